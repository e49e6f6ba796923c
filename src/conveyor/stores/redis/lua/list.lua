-- A page of a queue's jobs in one status, oldest (lowest id) first.
-- ARGV: queue, status, offset, limit. Returns the jobs' hashes (HGETALL arrays).
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZRANGE', status_key(ARGV[1], ARGV[2]), offset, offset + limit - 1)
local jobs = {}
for _, id in ipairs(ids) do jobs[#jobs + 1] = redis.call('HGETALL', job_key(id)) end
return jobs
