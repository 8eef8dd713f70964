-- ARGV: terminate start tag (without '>'), children, scope: '' the whole session, 'F' the first
-- stream, 'S<name>' another stream (XEP-0124 §16.6: the end of one stream of several ends only it),
-- and 'U' when a plain request is refused (XEP-0124 §19.1: it cannot end a session begun encrypted).
-- Returns {tombstone, ended, legacy, nanswers, (rid, holder, body)*}: tombstone is nil for an
-- unknown sid or when only a stream ended, ended is 1 when this call ended the session (2: nothing
-- done, the plain request is dropped), legacy '1' for a legacy client's session.
local ctx = load()
if not ctx then
  return { false, 0, '0', 0 }
end
if ctx.term then
  return { ctx.term, 0, '0', 0 }
end
local open, children, scope = ARGV[1], ARGV[2], ARGV[3]
if ARGV[4] == 'U' and ctx.tls == '1' then
  return { false, 2, ctx.leg, 0 }
end
if scope ~= '' and ctx.sf ~= '' then
  local s = scope == 'F' and ctx.sf or string.sub(scope, 2)
  if not has(ctx.st, s) then
    return { false, 0, ctx.leg, 0 } -- already closed
  end
  if #ctx.st > 1 then
    close_stream(ctx, s)
    local item = '\2' .. s .. '\2' .. string.sub(open, #OPEN + 1) .. '\2' .. children
    redis.call('RPUSH', O, item)
    ctx.ob = ctx.ob + #item
    flush(ctx)
    save(ctx)
    return flat_answers({ false, 0, ctx.leg }, ctx.answers)
  end
end
-- Payloads other pods accepted for the owner and it never took will not be written now: the
-- client is told instead of being left to think they were sent
local pending = redis.call('LRANGE', I, 0, -1)
if #pending > 0 then
  local lost = {}
  for _, item in ipairs(pending) do
    local f, p = string.match(item, '^%d+|([^|]*)|(.*)$')
    local flags = p and parse_flags(f)
    if p and p ~= '' and not (flags.open or flags.fragment) then
      lost[#lost + 1] = p
    end
  end
  redis.call('DEL', I)
  if #lost > 0 then
    children = children .. UNDELIVERED_OPEN .. table.concat(lost) .. UNDELIVERED_CLOSE
  end
end
-- XEP-0206 §6 / XEP-0124 §17.2: stanzas received before the error go out with it
local first = close_body(open, take_final(ctx) .. children)
local rest = close_body(open, children)
local answers = final_answers(ctx, first, rest)
local tombstone = #answers > 0 and rest or first
entomb(ctx, tombstone)
return flat_answers({ tombstone, 1, ctx.leg }, answers)
