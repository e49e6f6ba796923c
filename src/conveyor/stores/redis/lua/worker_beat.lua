-- Say a worker is alive: store its info until now + ttl, and drop the workers whose last
-- beat expired. ARGV: worker id, info (JSON), ttl (seconds).
local h = P .. ':workers'
local now = now_time()
local all = redis.call('HGETALL', h)
for i = 1, #all, 2 do
  local expires = tonumber(string.match(all[i + 1], '^[^\n]*'))
  if expires == nil or expires <= now then redis.call('HDEL', h, all[i]) end
end
redis.call('HSET', h, ARGV[1], num(now + tonumber(ARGV[3])) .. '\n' .. ARGV[2])
return 1
