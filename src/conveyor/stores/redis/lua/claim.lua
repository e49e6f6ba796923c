-- Take up to `limit` ready jobs of the queues: highest priority first, FIFO within one.
-- Scheduled jobs whose time has come are made ready first.
-- ARGV: origin, worker_id, lease seconds, limit, queue...
-- Returns the claimed jobs, in claim order: each the values of the fields below (HMGET;
-- _codec.CLAIMED names the same, in the same order), all but those this claim sets.
local origin, worker, lease, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_time()
local PROMOTE_MAX = 1000
local CLAIMED = {'spec', 'queue', 'priority', 'max_retries', 'run_at', 'attempts', 'started_at',
                 'completed_at', 'worker_id', 'lease_expires_at', 'result', 'error', 'traceback',
                 'unique_key', 'unique_until'}

local queues = {}
for k = 5, #ARGV do queues[#queues + 1] = ARGV[k] end

for _, q in ipairs(queues) do
  local due = redis.call('ZRANGEBYSCORE', delayed_key(q), '-inf', num(now), 'LIMIT', 0, PROMOTE_MAX)
  if #due > 0 then
    redis.call('ZREMRANGEBYRANK', delayed_key(q), 0, #due - 1)
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', job_key(id), 'priority', 'run_at')
      redis.call('HSET', job_key(id), 'status', 'pending')
      make_ready(id, q, f[1], tonumber(f[2]))
      move(id, q, 'scheduled', 'pending')
    end
  end
end

local picked = {}
if #queues == 1 then
  local popped = redis.call('ZPOPMIN', ready_key(queues[1]), limit)
  for k = 1, #popped, 2 do picked[#picked + 1] = {popped[k], queues[1]} end
else
  local heads = {}
  for _, q in ipairs(queues) do
    local head = redis.call('ZRANGE', ready_key(q), 0, limit - 1, 'WITHSCORES')
    for k = 1, #head, 2 do heads[#heads + 1] = {tonumber(head[k + 1]), head[k], q} end
  end
  table.sort(heads, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for k = 1, math.min(limit, #heads) do
    redis.call('ZREM', ready_key(heads[k][3]), heads[k][2])
    picked[#picked + 1] = {heads[k][2], heads[k][3]}
  end
end

local started, deadline = num(now), num(now + lease)
local claimed = {}
for _, p in ipairs(picked) do
  local id, q = p[1], p[2]
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'attempts', 'cancel_requested', 'progress',
                       'progress_message')
  if f[1] == 'pending' then
    redis.call('HSET', key, 'status', 'processing', 'attempts', (tonumber(f[2]) or 0) + 1,
               'started_at', started, 'worker_id', worker, 'lease_expires_at', deadline)
    if f[3] or f[4] or f[5] then
      redis.call('HDEL', key, 'cancel_requested', 'progress', 'progress_message')
    end
    redis.call('ZADD', LEASES, deadline, id)
    move(id, q, 'pending', 'processing')
    claimed[#claimed + 1] = redis.call('HMGET', key, unpack(CLAIMED))
    event('job:started', id, q)
  end
end
publish(origin)
return claimed
