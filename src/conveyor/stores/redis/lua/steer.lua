-- Delete, retry or cancel jobs the client picked, each only if it is still in the status
-- it was picked in ('' for delete_job: any status but processing).
-- ARGV: origin, action ('delete', 'retry' or 'cancel'), status, then ids. Returns how many.
local action, expected = ARGV[2], ARGV[3]
local now, done = now_time(), 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id), 'status', 'queue', 'priority')
  local status, q = f[1], f[2]
  if status and status ~= 'processing' and (expected == '' or status == expected) then
    if action == 'delete' then
      if status == 'pending' then redis.call('ZREM', ready_key(q), id) end
      if status == 'scheduled' then redis.call('ZREM', delayed_key(q), id) end
      redis.call('ZREM', status_key(q, status), id)
      delete_job(id, q)
      done = done + 1
    elseif action == 'retry' and (status == 'failed' or status == 'cancelled') then
      requeue(id, f, now)
      done = done + 1
    elseif action == 'cancel' and (status == 'pending' or status == 'scheduled') then
      cancel_waiting(id, q, status, now)
      done = done + 1
    end
  end
end
publish(ARGV[1])
return done
