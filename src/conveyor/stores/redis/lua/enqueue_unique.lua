-- Store one job unless a job of its queue holds its unique key; return the holder's id.
-- ARGV: origin, unique key, then the job as enqueue.lua takes it (id, queue, status,
-- priority, max_retries, run_at, attempts, spec, n, n field/value pairs). The hash
-- P:keys:<queue> maps each key to the job that last took it; that job holds it while
-- pending, scheduled or processing, and until its unique_until.
local ukey, id, q = ARGV[2], ARGV[3], ARGV[4]
local keys = keys_key(q)
local holder = redis.call('HGET', keys, ukey)
if holder then
  local f = redis.call('HMGET', job_key(holder), 'status', 'unique_until')
  local status, until_ = f[1], f[2]
  if status == 'pending' or status == 'scheduled' or status == 'processing'
      or (status and until_ and tonumber(until_) > now_time()) then
    return holder
  end
end
redis.call('HSET', keys, ukey, id)
store_jobs(3)
publish(ARGV[1])
return id
