-- ARGV: from (a forward number). Reads only: the forwards the owner got in an accept reply
-- (owner-local ones) or a drain reply (other pods' ones), kept for the last few numbers, from `from` on, for an owner whose reorder
-- buffer has waited too long for one (the reply was lost). Returns {(seq, flags, payload)*}.
local fs = tonumber(redis.call('HGET', S, 'fs') or '0')
local out = {}
for seq = math.max(tonumber(ARGV[1]), fs - KEPT_FORWARDS + 1), fs do
  local v = redis.call('HGET', S, 'w:' .. fmt(seq))
  if v then
    local f, p = string.match(v, '^([^|]*)|(.*)$')
    out[#out + 1] = fmt(seq)
    out[#out + 1] = f
    out[#out + 1] = p
  end
end
return out
