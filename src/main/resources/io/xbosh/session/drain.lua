-- The owner takes the client payloads other pods accepted for it. Returns {(seq, flags, payload)*}
local items = redis.call('LRANGE', I, 0, -1)
if #items == 0 then
  return {}
end
redis.call('DEL', I)
local out = {}
for _, item in ipairs(items) do
  local r, f, p = string.match(item, '^(%d+)|([^|]*)|(.*)$')
  out[#out + 1] = r
  out[#out + 1] = f
  out[#out + 1] = p
end
return out
