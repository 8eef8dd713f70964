-- ARGV: rid, then (field, value) pairs: the session's parameters by
-- their names in the hash (SessionField.java; a field not given is not written: absent fields cost nothing)
-- a sid is not taken again while anything of it remains: an expired session's outbound list waits
-- for its owner to bounce it (leftovers) and must not become the new session's
if redis.call('EXISTS', S, O, I) > 0 then
  return 0
end
local rid = ARGV[1]
-- The creation response is not cached (nor sent here): only a client that has it knows the sid, so
-- no request can ever resend its rid (a creation request resent without a sid makes a new session).
-- It is the largest answer of a login, and the hash stays smaller while the session is young.
local fields = { 'hi', rid, 'held', '', 'rc', '', 'np', 0, 'lt', fmt(now()), 'le', '0' }
local given = {}
for i = 2, #ARGV - 1, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  given[ARGV[i]] = ARGV[i + 1]
end
-- the parameters once more, packed (prelude's params_text), read by load in place of their fields;
-- not when that would take the hash past hash-max-listpack-value (a long pod or stream name)
local g = given
if g.hold and g.req and g.wait and g.inact and g.ack and g.leg and g.own and g.ct then
  local p = params_text(g.hold, g.req, g.wait, g.inact, g.pol or '0', g.ack, g.leg, g.tls, g.own, g.sf, g.ct)
  if #p <= LISTPACK_VALUE then
    fields[#fields + 1] = 'p'
    fields[#fields + 1] = p
  end
end
redis.call('HSET', S, unpack(fields))
redis.call('PEXPIRE', S, tonumber(given.inact) * 1000)
return 1
