-- Apply attempt outcomes, each only if its worker still owns that attempt.
-- ARGV: origin, then per outcome: id, worker_id, attempt, status, delay, n, then n
-- field/value pairs among result, error, traceback (the ones left out are cleared).
-- Status 'postponed': scheduled after delay, its attempt given back, result and error kept.
-- Returns 1 (applied) or 0 per outcome.
local EVENT_OF = {
  completed = 'job:completed', failed = 'job:failed', scheduled = 'job:retrying',
  cancelled = 'job:cancelled', pending = 'job:released', postponed = 'job:postponed',
}
local now = now_time()
local applied = {}
local i = 2
while i <= #ARGV do
  local id, worker, attempt, status = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local delay, n = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'worker_id', 'attempts', 'queue', 'priority')
  local owned = f[1] == 'processing' and f[2] == worker and tonumber(f[3]) == attempt
  if owned then
    local q = f[4]
    redis.call('ZREM', LEASES, id)
    redis.call('HDEL', key, 'worker_id', 'lease_expires_at', 'cancel_requested')
    local event_name = EVENT_OF[status]
    if status == 'pending' then
      redis.call('HINCRBY', key, 'attempts', -1)
      redis.call('HSET', key, 'status', status, 'run_at', num(now + delay))
      make_ready(id, q, f[5], now + delay)
    elseif status == 'postponed' then
      status = 'scheduled'
      redis.call('HINCRBY', key, 'attempts', -1)
      redis.call('HSET', key, 'status', status, 'run_at', num(now + delay))
      redis.call('ZADD', delayed_key(q), num(now + delay), id)
    else
      redis.call('HDEL', key, 'result', 'error', 'traceback')
      if n > 0 then redis.call('HSET', key, unpack(ARGV, i + 6, i + 5 + 2 * n)) end
      if status == 'scheduled' then
        redis.call('HSET', key, 'status', status, 'run_at', num(now + delay))
        redis.call('ZADD', delayed_key(q), num(now + delay), id)
      else
        redis.call('HSET', key, 'status', status, 'completed_at', num(now))
      end
    end
    move(id, q, 'processing', status)
    event(event_name, id, q)
  end
  applied[#applied + 1] = owned and 1 or 0
  i = i + 6 + 2 * n
end
publish(ARGV[1])
return applied
