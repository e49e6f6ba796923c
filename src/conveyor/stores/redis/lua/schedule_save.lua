-- Register schedules: one new to the store is stored as given, a known one keeps where
-- it stands (last_tick, last_job_id, paused) and takes the new spec, next_tick, seen_at.
-- ARGV: per schedule: queue, key, spec, last_tick, next_tick ('' for none), seen_at.
-- Returns each one's state (JSON) as stored, in the order given.
local saved = {}
for i = 1, #ARGV, 6 do
  local h, key = schedules_key(ARGV[i]), ARGV[i + 1]
  local raw = redis.call('HGET', h, key)
  local s
  if raw then
    s = cjson.decode(raw)
  else
    s = {last_tick = ARGV[i + 3], last_job_id = '', paused = '0'}
  end
  s.spec, s.next_tick, s.seen_at = ARGV[i + 2], ARGV[i + 4], ARGV[i + 5]
  local state = cjson.encode(s)
  redis.call('HSET', h, key, state)
  saved[#saved + 1] = state
end
return saved
