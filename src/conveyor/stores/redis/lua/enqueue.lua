-- Store one new job (enqueue_many.lua stores several).
-- ARGV: the job:added message, the ready score (used if the job is pending), then the
-- job as enqueue_many.lua takes each one: id, queue, status, priority, max_retries,
-- run_at, attempts, spec, n, then n more field/value pairs of the job's hash. The
-- client makes the message and the score (as ready_score() would): on the server
-- they cost a sixth of the call.
local id, q, status, run_at = ARGV[3], ARGV[4], ARGV[5], ARGV[8]
local n = tonumber(ARGV[11])
local key = job_key(id)
-- A replay of an enqueue that ran (the client sends a command again on a fresh connection
-- when the first one broke, and the first may have run): the job may be running by now.
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, 'queue', q, 'status', status, 'priority', ARGV[6],
           'max_retries', ARGV[7], 'run_at', run_at, 'attempts', ARGV[9], 'spec', ARGV[10])
if n > 0 then redis.call('HSET', key, unpack(ARGV, 12, 11 + 2 * n)) end
redis.call('ZADD', status_key(q, status), 0, id)
-- As publish() does: a ready job's event goes to ':events', its bell wakes idle workers.
if status == 'pending' then
  redis.call('ZADD', ready_key(q), ARGV[2], id)
  ring(q)
  redis.call('PUBLISH', P .. ':events', ARGV[1])
else
  if status == 'scheduled' then redis.call('ZADD', delayed_key(q), run_at, id) end
  redis.call('PUBLISH', P .. ':changes', ARGV[1])
end
return 1
