-- Take or renew one of a bucket's concurrency slots. ARGV: bucket, holder, limit, ttl.
-- The sorted set P:slots:<bucket> scores each holder by when its slot runs out.
local key = P .. ':slots:' .. ARGV[1]
local now, ttl = now_time(), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
if not redis.call('ZSCORE', key, ARGV[2]) and redis.call('ZCARD', key) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', key, num(now + ttl), ARGV[2])
redis.call('PEXPIRE', key, math.ceil(ttl * 1000) + 1000)
return 1
