-- Give back a concurrency slot. ARGV: bucket, holder.
redis.call('ZREM', P .. ':slots:' .. ARGV[1], ARGV[2])
return 1
