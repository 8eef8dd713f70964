-- ARGV: terminate start tag (without '>'), children.
-- Returns {tombstone, ended, legacy, nanswers, (rid, holder, body)*}: tombstone is nil for an
-- unknown sid, ended is 1 when this call ended the session, legacy '1' for a legacy client's session.
local ctx = load()
if not ctx then
  return { false, 0, '0', 0 }
end
if ctx.term then
  return { ctx.term, 0, '0', 0 }
end
local open, children = ARGV[1], ARGV[2]
-- XEP-0206 §6 / XEP-0124 §17.2: stanzas received before the error go out with it
local first = close_body(open, take_out() .. children)
local rest = close_body(open, children)
local answers = final_answers(ctx, first, rest)
local tombstone = #answers > 0 and rest or first
entomb(tombstone)
return flat_answers({ tombstone, 1, ctx.leg }, answers)
