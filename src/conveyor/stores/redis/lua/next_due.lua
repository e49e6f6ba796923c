-- The earliest run_at of the queues' scheduled jobs, or nil. ARGV: queue...
local earliest = nil
for _, q in ipairs(ARGV) do
  local head = redis.call('ZRANGE', delayed_key(q), 0, 0, 'WITHSCORES')
  if head[2] and (earliest == nil or tonumber(head[2]) < earliest) then
    earliest = tonumber(head[2])
  end
end
if earliest == nil then return false end
return num(earliest)
