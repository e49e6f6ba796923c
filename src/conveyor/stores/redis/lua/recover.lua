-- Jobs whose lease ran out: a lost lease counts as a failed attempt, so the job goes
-- back to pending, or fails when out of tries, or ends cancelled when that was asked.
-- ARGV: origin, most jobs to recover in this call. Returns the recovered ids.
local now = now_time()
local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. num(now), 'LIMIT', 0, ARGV[2])
local recovered = {}
for _, id in ipairs(expired) do
  local key = job_key(id)
  redis.call('ZREM', LEASES, id)
  local f = redis.call('HMGET', key, 'status', 'attempts', 'max_retries', 'cancel_requested',
                       'queue', 'priority')
  if f[1] == 'processing' then
    local q, status, name = f[5], 'pending', 'job:recovered'
    if f[4] then
      status, name = 'cancelled', 'job:cancelled'
    elseif tonumber(f[2]) > tonumber(f[3]) then
      status, name = 'failed', 'job:failed'
    end
    redis.call('HSET', key, 'status', status, 'run_at', num(now),
               'error', 'worker lost: lease expired during attempt ' .. f[2])
    redis.call('HDEL', key, 'traceback', 'worker_id', 'lease_expires_at', 'cancel_requested')
    if status == 'pending' then
      make_ready(id, q, f[6], now)
    else
      redis.call('HSET', key, 'completed_at', num(now))
    end
    move(id, q, 'processing', status)
    event(name, id, q)
    recovered[#recovered + 1] = id
  end
end
publish(ARGV[1])
return {recovered, #expired}
