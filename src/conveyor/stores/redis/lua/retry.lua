-- Send a failed or cancelled job back to pending with fresh attempts.
-- ARGV: origin, id. Returns 1, or 0 when there is no such job or it is in another state.
local id = ARGV[2]
local f = redis.call('HMGET', job_key(id), 'status', 'queue', 'priority')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return 0 end
requeue(id, f, now_time())
publish(ARGV[1])
return 1
