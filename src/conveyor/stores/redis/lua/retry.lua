-- Send a failed or cancelled job back to pending with fresh attempts.
-- ARGV: origin, id. Returns 1, or 0 when there is no such job or it is in another state.
local id = ARGV[2]
local key = job_key(id)
local f = redis.call('HMGET', key, 'status', 'queue', 'priority')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return 0 end
local now = now_time()
redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'run_at', num(now))
redis.call('HDEL', key, 'completed_at', 'cancel_requested')
make_ready(id, f[2], f[3], now)
move(id, f[2], f[1], 'pending')
event('job:requeued', id, f[2])
publish(ARGV[1])
return 1
