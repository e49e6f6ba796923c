-- Store new jobs, all in one call.
-- ARGV: origin, then per job: id, queue, status, priority, max_retries, run_at, attempts,
-- spec, n, then n more field/value pairs of the job's hash.

-- One job (enqueue): its commands straight away, and its event message built here.
local n = tonumber(ARGV[10])
if #ARGV == 10 + 2 * n then
  local id, q, status, run_at = ARGV[2], ARGV[3], ARGV[4], ARGV[7]
  local key = job_key(id)
  redis.call('HSET', key, 'queue', q, 'status', status, 'priority', ARGV[5],
             'max_retries', ARGV[6], 'run_at', run_at, 'attempts', ARGV[8], 'spec', ARGV[9])
  if n > 0 then redis.call('HSET', key, unpack(ARGV, 11, 10 + 2 * n)) end
  if status == 'pending' then
    redis.call('ZADD', ready_key(q), ready_score(ARGV[5], tonumber(run_at)), id)
  elseif status == 'scheduled' then
    redis.call('ZADD', delayed_key(q), run_at, id)
  end
  redis.call('ZADD', status_key(q, status), 0, id)
  redis.call('PUBLISH', P .. ':changes', '{"o":"' .. ARGV[1] .. '","e":[["job:added",'
             .. cjson.encode(id) .. ',' .. cjson.encode(q) .. ']]}')
  return 1
end

-- Many jobs (enqueue_many): sorted-set members are gathered per key and added with one
-- ZADD per key and chunk.
local additions, order = {}, {}
local function add(key, score, id)
  local members = additions[key]
  if members == nil then
    members = {}
    additions[key] = members
    order[#order + 1] = key
  end
  members[#members + 1] = score
  members[#members + 1] = id
end

local i = 2
while i <= #ARGV do
  local id, q, status, run_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 5]
  local n = tonumber(ARGV[i + 8])
  local key = job_key(id)
  redis.call('HSET', key, 'queue', q, 'status', status, 'priority', ARGV[i + 3],
             'max_retries', ARGV[i + 4], 'run_at', run_at, 'attempts', ARGV[i + 6],
             'spec', ARGV[i + 7])
  if n > 0 then redis.call('HSET', key, unpack(ARGV, i + 9, i + 8 + 2 * n)) end
  if status == 'pending' then
    add(ready_key(q), ready_score(ARGV[i + 3], tonumber(run_at)), id)
  elseif status == 'scheduled' then
    add(delayed_key(q), run_at, id)
  end
  add(status_key(q, status), 0, id)
  event('job:added', id, q)
  i = i + 9 + 2 * n
end

local CHUNK = 2000 -- arguments per ZADD (Lua's stack bounds unpack)
for _, key in ipairs(order) do
  local members = additions[key]
  for first = 1, #members, CHUNK do
    redis.call('ZADD', key, unpack(members, first, math.min(first + CHUNK - 1, #members)))
  end
end
publish(ARGV[1])
return #events
