-- Register schedules: one new to the store is stored as given, a known one keeps where
-- it stands (last_tick, last_job_id, paused) and takes the new spec, next_tick, seen_at.
-- ARGV: queue, then per schedule: key, spec, last_tick, next_tick ('' for none), seen_at.
-- Returns key, state (JSON) pairs as stored.
local h = schedules_key(ARGV[1])
local saved = {}
for i = 2, #ARGV, 5 do
  local raw = redis.call('HGET', h, ARGV[i])
  local s
  if raw then
    s = cjson.decode(raw)
  else
    s = {last_tick = ARGV[i + 2], last_job_id = '', paused = '0'}
  end
  s.spec, s.next_tick, s.seen_at = ARGV[i + 1], ARGV[i + 3], ARGV[i + 4]
  local state = cjson.encode(s)
  redis.call('HSET', h, ARGV[i], state)
  saved[#saved + 1] = ARGV[i]
  saved[#saved + 1] = state
end
return saved
