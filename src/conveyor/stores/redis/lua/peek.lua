-- A page of a queue's jobs in one status, after id ARGV[3] ('' from the first), for the
-- client to pick the jobs a bulk operation takes. ARGV: queue, status, after, count.
-- Returns per job: id, the spec line (settings as JSON, no payload), completed_at or false.
local set = status_key(ARGV[1], ARGV[2])
local low = ARGV[3] == '' and '-' or '(' .. ARGV[3]
local ids = redis.call('ZRANGE', set, low, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))
local page = {}
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', job_key(id), 'spec', 'completed_at')
  if f[1] then
    page[#page + 1] = id
    page[#page + 1] = string.match(f[1], '^[^\n]*')
    page[#page + 1] = f[2]
  end
end
return page
