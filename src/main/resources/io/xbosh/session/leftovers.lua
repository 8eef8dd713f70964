-- The stanzas no body carried to the client of a session that expired or ended (XEP-0206 §7): the
-- owner bounces them to the server. Nothing while the session lives. Returns the raw list items.
if redis.call('HEXISTS', S, 'hi') == 1 then
  return {}
end
local items = redis.call('LRANGE', O, 0, -1)
redis.call('DEL', O)
return items
