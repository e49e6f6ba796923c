-- The info (JSON) of the workers whose last beat has not expired, by worker id.
local all = redis.call('HGETALL', P .. ':workers')
local now, alive = now_time(), {}
for i = 1, #all, 2 do
  local expires, info = string.match(all[i + 1], '^([^\n]*)\n(.*)$')
  if expires and tonumber(expires) > now then alive[#alive + 1] = {all[i], info} end
end
table.sort(alive, function(a, b) return a[1] < b[1] end)
local infos = {}
for _, pair in ipairs(alive) do infos[#infos + 1] = pair[2] end
return infos
