-- Fire a schedule's tick(s): only if the schedule is stored, not paused and still at
-- the expected tick, move it on and store the ticks' jobs, in one step.
-- ARGV: origin, queue, key, expected_tick, tick, next_tick ('' for none), job_id ('' for
-- none), then the jobs as enqueue.lua takes them. Returns 1 if it fired, else 0.
local h = schedules_key(ARGV[2])
local raw = redis.call('HGET', h, ARGV[3])
if not raw then return 0 end
local s = cjson.decode(raw)
if s.paused == '1' or s.last_tick ~= ARGV[4] then return 0 end
s.last_tick, s.next_tick = ARGV[5], ARGV[6]
if ARGV[7] ~= '' then s.last_job_id = ARGV[7] end
redis.call('HSET', h, ARGV[3], cjson.encode(s))
store_jobs(8)
publish(ARGV[1])
return 1
