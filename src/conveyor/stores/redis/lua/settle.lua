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
    local event_name = EVENT_OF[status]
    if status == 'pending' or status == 'postponed' then
      -- The attempt is given back; its result, error and traceback are kept.
      local run_at = num(now + delay)
      if status == 'pending' then
        make_ready(id, q, f[5], now + delay)
      else
        status = 'scheduled'
        redis.call('ZADD', delayed_key(q), run_at, id)
      end
      redis.call('HDEL', key, 'worker_id', 'lease_expires_at', 'cancel_requested')
      redis.call('HSET', key, 'status', status, 'run_at', run_at, 'attempts', attempt - 1)
    else
      local fields = {'status', status}
      if status == 'scheduled' then
        fields[3], fields[4] = 'run_at', num(now + delay)
        redis.call('ZADD', delayed_key(q), fields[4], id)
      else
        fields[3], fields[4] = 'completed_at', num(now)
      end
      for k = i + 6, i + 5 + 2 * n do fields[#fields + 1] = ARGV[k] end
      redis.call('HDEL', key, 'worker_id', 'lease_expires_at', 'cancel_requested', 'result',
                 'error', 'traceback')
      redis.call('HSET', key, unpack(fields))
    end
    move(id, q, 'processing', status)
    event(event_name, id, q)
  end
  applied[#applied + 1] = owned and 1 or 0
  i = i + 6 + 2 * n
end
publish(ARGV[1])
return applied
