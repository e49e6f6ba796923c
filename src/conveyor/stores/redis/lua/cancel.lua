-- Cancel a pending or scheduled job, or flag a running one for its worker.
-- ARGV: origin, id. Returns 'cancelled', 'processing', or nil (no such job, or finished).
local id = ARGV[2]
local key = job_key(id)
local f = redis.call('HMGET', key, 'status', 'queue')
local status, q = f[1], f[2]
if status == 'processing' then
  redis.call('HSET', key, 'cancel_requested', '1')
  return 'processing'
elseif status == 'pending' then
  redis.call('ZREM', ready_key(q), id)
elseif status == 'scheduled' then
  redis.call('ZREM', delayed_key(q), id)
else
  return false
end
redis.call('HSET', key, 'status', 'cancelled', 'completed_at', num(now_time()))
move(id, q, status, 'cancelled')
event('job:cancelled', id, q)
publish(ARGV[1])
return 'cancelled'
