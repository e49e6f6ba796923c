-- Pause or resume a schedule; resuming passes over the ticks missed while paused.
-- ARGV: queue, key, paused ('1' or '0'), now_tick. Returns 0 if there is no such schedule.
local h = schedules_key(ARGV[1])
local raw = redis.call('HGET', h, ARGV[2])
if not raw then return 0 end
local s = cjson.decode(raw)
if s.paused == '1' and ARGV[3] == '0' and tonumber(ARGV[4]) > tonumber(s.last_tick) then
  s.last_tick = ARGV[4]
end
s.paused = ARGV[3]
redis.call('HSET', h, ARGV[2], cjson.encode(s))
return 1
