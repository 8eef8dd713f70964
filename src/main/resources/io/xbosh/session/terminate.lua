-- ARGV: terminate start tag (without '>'), children.
-- Returns {tombstone, nanswers, (rid, holder, body)*}; tombstone is nil for an unknown sid.
local ctx = load()
if not ctx then
  return { false, 0 }
end
if ctx.term then
  return { ctx.term, 0 }
end
local open, children = ARGV[1], ARGV[2]
-- XEP-0206 §6 / XEP-0124 §17.2: stanzas received before the error go out with it
local first = close_body(open, take_out() .. children)
local rest = close_body(open, children)
local all = ctx.held
for _, e in ipairs(parked_holders()) do
  all[#all + 1] = e
end
table.sort(all, function(a, b) return a[1] < b[1] end)
local answers = {}
for i, e in ipairs(all) do
  answers[i] = { e[1], e[2], i == 1 and first or rest }
end
local tombstone = #all > 0 and rest or first
entomb(tombstone)
return flat_answers({ tombstone }, answers)
