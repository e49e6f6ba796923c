-- Count a queue's jobs per status. ARGV: queue, status... Returns one count per status.
local counts = {}
for k = 2, #ARGV do counts[#counts + 1] = redis.call('ZCARD', status_key(ARGV[1], ARGV[k])) end
return counts
