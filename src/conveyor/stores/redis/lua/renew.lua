-- Extend the leases a worker still holds.
-- ARGV: worker_id, lease seconds, job id...
-- Returns {lost ids, ids whose cancel was asked for}.
local worker = ARGV[1]
local deadline = num(now_time() + tonumber(ARGV[2]))
local lost, cancels = {}, {}
for k = 3, #ARGV do
  local id = ARGV[k]
  local f = redis.call('HMGET', job_key(id), 'status', 'worker_id', 'cancel_requested')
  if f[1] == 'processing' and f[2] == worker then
    redis.call('HSET', job_key(id), 'lease_expires_at', deadline)
    redis.call('ZADD', LEASES, deadline, id)
    if f[3] then cancels[#cancels + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return {lost, cancels}
