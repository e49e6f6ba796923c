-- Store one new job (enqueue_many.lua stores several).
-- ARGV: origin, id, queue, status, priority, max_retries, run_at, attempts, spec, n, then
-- n more field/value pairs of the job's hash.
local n = tonumber(ARGV[10])
local id, q, status, run_at = ARGV[2], ARGV[3], ARGV[4], ARGV[7]
local key = job_key(id)
redis.call('HSET', key, 'queue', q, 'status', status, 'priority', ARGV[5],
           'max_retries', ARGV[6], 'run_at', run_at, 'attempts', ARGV[8], 'spec', ARGV[9])
if n > 0 then redis.call('HSET', key, unpack(ARGV, 11, 10 + 2 * n)) end
if status == 'pending' then
  redis.call('ZADD', ready_key(q), ready_score(ARGV[5], tonumber(run_at)), id)
  ring(q)
elseif status == 'scheduled' then
  redis.call('ZADD', delayed_key(q), run_at, id)
end
redis.call('ZADD', status_key(q, status), 0, id)
-- As publish() in _common.lua does: a ready job's bell wakes the idle workers.
local channel = status == 'pending' and ':events' or ':changes'
redis.call('PUBLISH', P .. channel, '{"o":"' .. ARGV[1] .. '","e":[["job:added",'
           .. cjson.encode(id) .. ',' .. cjson.encode(q) .. ']]}')
return 1
