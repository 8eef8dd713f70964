-- ARGV: rid, holder. Reads only. The answer a pod owes a request it still holds, when the store
-- decided it while the pod's channel was down (the published answer was lost): the cached
-- response of an answered rid, a recoverable error for a rid another copy took over, the final
-- body of an ended session; a request whose deadline passed, the empty body it was answered with
-- (prelude's expire, worked out here without writing). Returns {body} or {} while the request still
-- waits (or nothing is known).
local ctx = load(true)
if not ctx then
  return {}
end
if ctx.term then
  return { ctx.term }
end
local rid, holder = tonumber(ARGV[1]), ARGV[2]
for _, e in ipairs(ctx.held) do
  if e[1] == rid then
    if e[2] == holder then
      return {}
    end
    return { RECOVERABLE }
  end
end
local parked = redis.call('HGET', S, 'a:' .. ARGV[1])
if parked and string.match(parked, '^([^|]*)|') == holder then
  return {}
end
local cached = cached_response(ctx, rid)
if cached then
  return { cached }
end
if parked then
  return { RECOVERABLE }
end
return {}
