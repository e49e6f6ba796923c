-- Take a start of a rate-limited bucket, one every ARGV[2] seconds.
-- ARGV: bucket, interval. Returns '0' if taken, else the seconds to wait (as a string:
-- Redis would truncate a Lua number to an integer).
local key = P .. ':rate:' .. ARGV[1]
local now, interval = now_time(), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', key) or '0')
if tat > now then
  return num(tat - now)
end
-- Less than an interval late: keep the cadence (see Store.take_start).
local next_due = (now - tat < interval) and (tat + interval) or (now + interval)
redis.call('SET', key, num(next_due), 'PX', math.ceil((next_due - now + interval) * 1000) + 1000)
return '0'
