-- Delete up to ARGV[2] of queue ARGV[1]'s completed jobs. Returns how many.
local done = status_key(ARGV[1], 'completed')
local ids = redis.call('ZRANGE', done, 0, tonumber(ARGV[2]) - 1)
for _, id in ipairs(ids) do delete_job(id, ARGV[1]) end
if #ids > 0 then redis.call('ZREMRANGEBYRANK', done, 0, #ids - 1) end
return #ids
