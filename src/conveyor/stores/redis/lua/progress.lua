-- Record progress of a running job held by a worker.
-- ARGV: origin, id, worker_id, percent[, message]. Returns 1, or 0 if not held.
local id = ARGV[2]
local key = job_key(id)
local f = redis.call('HMGET', key, 'status', 'worker_id', 'queue')
if f[1] ~= 'processing' or f[2] ~= ARGV[3] then return 0 end
redis.call('HSET', key, 'progress', ARGV[4])
if ARGV[5] then
  redis.call('HSET', key, 'progress_message', ARGV[5])
else
  redis.call('HDEL', key, 'progress_message')
end
event('job:progress', id, f[3])
publish(ARGV[1])
return 1
