-- Cancel a pending or scheduled job, or flag a running one for its worker.
-- ARGV: origin, id. Returns 'cancelled', 'processing', or nil (no such job, or finished).
local id = ARGV[2]
local key = job_key(id)
local f = redis.call('HMGET', key, 'status', 'queue')
local status, q = f[1], f[2]
if status == 'processing' then
  redis.call('HSET', key, 'cancel_requested', '1')
  return 'processing'
elseif status ~= 'pending' and status ~= 'scheduled' then
  return false
end
cancel_waiting(id, q, status, now_time())
publish(ARGV[1])
return 'cancelled'
