-- ARGV: rid, holder, in order ('1': only when no earlier request is unanswered, for a pod that
-- answers before the wait ran out; XEP-0124 §14: answers go in rid order).
-- A request whose deadline passed is answered by load (prelude's expire); its body is returned here
-- when that happened in this run, else it was answered before and the result is 'none'.
-- Returns {'ok', body} | {'none'} | {'turn'} (not answered: an earlier request is still open) |
-- {'ended', body} | {'gone'}
local ctx = load()
if not ctx then
  return { 'gone' }
end
if ctx.term then
  return { 'ended', ctx.term }
end
local rid, holder = tonumber(ARGV[1]), ARGV[2]
local in_order = ARGV[3] == '1'
-- its deadline passed (the holder fell back to this script): answered empty at the deadline, just now
local expired = ctx.expired[rid]
if expired and expired[1] == holder then
  return { 'ok', expired[2] }
end
for i, e in ipairs(ctx.held) do
  if e[1] == rid and e[2] == holder then
    if in_order and i > 1 then
      return { 'turn' }
    end
    local payload, extra = take(ctx)
    local body = answer_at(ctx, i, payload, extra)
    flush(ctx)
    save(ctx)
    return { 'ok', body }
  end
end
-- a parked request whose wait ran out: answer it empty now, process its payload when the gap fills
local key = 'a:' .. ARGV[1]
local parked = redis.call('HGET', S, key)
if parked then
  local h, rest = string.match(parked, '^([^|]*)|(.*)$')
  if h == holder then
    if in_order then
      return { 'turn' }
    end
    redis.call('HSET', S, key, '-|' .. rest)
    local body = render(ctx, rid, '')
    cache(ctx, rid, body)
    save(ctx)
    return { 'ok', body }
  end
end
return { 'none' }
