-- ARGV: rid, holder. The client closed the connection of a request it had sent (a page reload, a
-- closed tab): the request gets no answer. A held one leaves the held registry, so the
-- overactivity rules stop counting it and waiting stanzas stay for the next request; its rid stays
-- resendable (it waits again). A parked one is answered empty like a released one, its payload
-- processed when the gap fills. Returns 1 when something changed, else 0.
local ctx = load()
if not ctx or ctx.term then
  return 0
end
local rid, holder = tonumber(ARGV[1]), ARGV[2]
for i, e in ipairs(ctx.held) do
  if e[1] == rid and e[2] == holder then
    table.remove(ctx.held, i)
    abandon(ctx, rid)
    save(ctx)
    return 1
  end
end
local key = 'a:' .. ARGV[1]
local parked = redis.call('HGET', S, key)
if parked then
  local h, rest = string.match(parked, '^([^|]*)|(.*)$')
  if h == holder then
    redis.call('HSET', S, key, '-|' .. rest)
    cache(ctx, rid, render(ctx, rid, ''))
    save(ctx)
    return 1
  end
end
return 0
