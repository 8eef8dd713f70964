-- The owner takes the client payloads other pods accepted for it. Returns {(seq, flags, payload)*}
local items = redis.call('LRANGE', I, 0, -1)
if #items == 0 then
  return {}
end
redis.call('DEL', I)
-- kept as the owner-local ones are (w:<seq>, see accept.lua) while the session lives, the latest
-- KEPT_FORWARDS numbers only: an owner that lost this reply takes them again with forwards.lua
-- (what it already applied it ignores by number). Each number drops the one KEPT_FORWARDS before it.
local fs = redis.call('HGET', S, 'fs')
local out = {}
for _, item in ipairs(items) do
  local r, f, p = string.match(item, '^(%d+)|([^|]*)|(.*)$')
  out[#out + 1] = r
  out[#out + 1] = f
  out[#out + 1] = p
  if fs then
    local seq = tonumber(r)
    if seq > tonumber(fs) - KEPT_FORWARDS then
      redis.call('HSET', S, 'w:' .. r, f .. '|' .. p)
    end
    redis.call('HDEL', S, 'w:' .. fmt(seq - KEPT_FORWARDS))
  end
end
return out
