-- Aging: raise pending jobs of a queue that have waited since before ARGV[2] one
-- priority level (up to CRITICAL), their wait at the new level counting from now.
-- ARGV: queue, before (epoch seconds), limit. Returns how many were raised.
local q, before, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local ready = ready_key(q)
local now = now_time()
local raised = 0
for priority = 0, 2 do
  if raised >= limit then break end
  local low = ready_score(priority, 0)
  local high = ready_score(priority, before)
  local ids = redis.call('ZRANGEBYSCORE', ready, low, '(' .. high, 'LIMIT', 0, limit - raised)
  for _, id in ipairs(ids) do
    local key = job_key(id)
    redis.call('HSET', key, 'priority', priority + 1, 'run_at', num(now))
    make_ready(id, q, priority + 1, now)
    raised = raised + 1
  end
end
return raised
