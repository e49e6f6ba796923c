-- Shared by every script: prepended to each one when it is loaded.
--
-- KEYS[1] is the store's hash tag "{prefix}"; every key starts with it, so a script
-- touches one cluster slot. Times are epoch seconds from the server's TIME, written
-- with 17 significant digits (exact doubles: Lua's default keeps only 14).

local P = KEYS[1]
local LEASES = P .. ':leases'

local function now_time()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function num(x)
  return string.format('%.17g', x)
end

local function job_key(id) return P .. ':job:' .. id end
local function ready_key(q) return P .. ':ready:' .. q end
local function delayed_key(q) return P .. ':delayed:' .. q end
local function status_key(q, s) return P .. ':status:' .. s .. ':' .. q end

-- Wake one idle worker of queue q blocked on its bell (the claim it queued behind runs
-- at once). A token left there means nobody waits: the list keeps just that one.
local function ring(q)
  local bell = P .. ':bell:' .. q
  if redis.call('LLEN', bell) == 0 then redis.call('LPUSH', bell, 1) end
end

-- Priority bands 2^44 ms apart, run_at in ms within a band: higher priority first,
-- then earlier run_at; equal scores fall back to the member (the id: creation order).
local function ready_score(priority, run_at)
  return num(-tonumber(priority) * 17592186044416 + run_at * 1000)
end

local function make_ready(id, q, priority, run_at)
  redis.call('ZADD', ready_key(q), ready_score(priority, run_at), id)
end

local function move(id, q, from, to)
  redis.call('ZREM', status_key(q, from), id)
  redis.call('ZADD', status_key(q, to), 0, id)
end

-- A queue's unique keys: a field per key, the id of the job that took it last.
local function keys_key(q) return P .. ':keys:' .. q end

-- Delete job `id` of queue q, and its unique key's field if the job still holds it.
local function delete_job(id, q)
  local key = job_key(id)
  local ukey = redis.call('HGET', key, 'unique_key')
  if ukey and redis.call('HGET', keys_key(q), ukey) == id then
    redis.call('HDEL', keys_key(q), ukey)
  end
  redis.call('DEL', key)
end

local events = {}
-- The indexes in events of those about a job whose queue's bell was rung.
local belled = {}
local function event(name, id, q, bell_rung)
  events[#events + 1] = {name, id, q}
  if bell_rung then belled[#events] = true end
end

-- One message per call and channel with every event it caused, in the shape of
-- encode_events and starting with the origin (a hex token), so a store can skip its
-- own messages unparsed. Events that can make work ready or finish a job go to
-- ':changes' (idle workers and waiters follow it), the others (started, progress) to
-- ':events' (followed only by processes with remote event listeners), and so do those
-- of jobs whose bell was rung: the bell wakes the idle workers.
local QUIET = {['job:started'] = true, ['job:progress'] = true}
local function publish(origin)
  local loud, quiet = {}, {}
  for i, e in ipairs(events) do
    local into = (QUIET[e[1]] or belled[i]) and quiet or loud
    into[#into + 1] = e
  end
  if #loud > 0 then
    redis.call('PUBLISH', P .. ':changes', '{"o":"' .. origin .. '","e":' .. cjson.encode(loud) .. '}')
  end
  if #quiet > 0 then
    redis.call('PUBLISH', P .. ':events', '{"o":"' .. origin .. '","e":' .. cjson.encode(quiet) .. '}')
  end
end

-- Store the jobs whose arguments start at ARGV[i], as enqueue_many.lua takes them (per job:
-- id, queue, status, priority, max_retries, run_at, attempts, spec, n, then n more
-- field/value pairs); sorted-set members are gathered per key and added with one ZADD
-- per key and chunk. Their job:added events go out with the next publish(). A job whose
-- hash exists already is left as it is: the call is a replay (the client sends a command
-- again on a fresh connection when the first one broke, and the first may have run).
local function store_jobs(i)
  local additions, order, rung = {}, {}, {}
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
  while i <= #ARGV do
    local id, q, status, run_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 5]
    local n = tonumber(ARGV[i + 8])
    local key = job_key(id)
    if redis.call('EXISTS', key) == 0 then
      redis.call('HSET', key, 'queue', q, 'status', status, 'priority', ARGV[i + 3],
                 'max_retries', ARGV[i + 4], 'run_at', run_at, 'attempts', ARGV[i + 6],
                 'spec', ARGV[i + 7])
      if n > 0 then redis.call('HSET', key, unpack(ARGV, i + 9, i + 8 + 2 * n)) end
      if status == 'pending' then
        add(ready_key(q), ready_score(ARGV[i + 3], tonumber(run_at)), id)
        rung[q] = true
      elseif status == 'scheduled' then
        add(delayed_key(q), run_at, id)
      end
      add(status_key(q, status), 0, id)
      event('job:added', id, q, status == 'pending')
    end
    i = i + 9 + 2 * n
  end
  local CHUNK = 2000 -- arguments per ZADD (Lua's stack bounds unpack)
  for _, key in ipairs(order) do
    local members = additions[key]
    for first = 1, #members, CHUNK do
      redis.call('ZADD', key, unpack(members, first, math.min(first + CHUNK - 1, #members)))
    end
  end
  for q in pairs(rung) do ring(q) end
end

-- A queue's schedules: one hash, a field per schedule key, its state as JSON with
-- string values (ticks are compared as written).
local function schedules_key(q) return P .. ':schedules:' .. q end

-- Send failed or cancelled job `id` (fields f: status, queue, priority) back to pending
-- with fresh attempts.
local function requeue(id, f, now)
  local key = job_key(id)
  redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'run_at', num(now))
  redis.call('HDEL', key, 'completed_at', 'cancel_requested')
  make_ready(id, f[2], f[3], now)
  move(id, f[2], f[1], 'pending')
  event('job:requeued', id, f[2])
end

-- Cancel waiting job `id` of queue q, now in status (pending or scheduled).
local function cancel_waiting(id, q, status, now)
  redis.call('ZREM', status == 'pending' and ready_key(q) or delayed_key(q), id)
  redis.call('HSET', job_key(id), 'status', 'cancelled', 'completed_at', num(now))
  move(id, q, status, 'cancelled')
  event('job:cancelled', id, q)
end
