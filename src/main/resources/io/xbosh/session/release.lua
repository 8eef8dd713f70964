-- ARGV: rid, holder. Returns {'ok', body} | {'none'} | {'ended', body} | {'gone'}
local ctx = load()
if not ctx then
  return { 'gone' }
end
if ctx.term then
  return { 'ended', ctx.term }
end
local rid, holder = tonumber(ARGV[1]), ARGV[2]
for i, e in ipairs(ctx.held) do
  if e[1] == rid and e[2] == holder then
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
    redis.call('HSET', S, key, '-|' .. rest)
    local body = render(ctx, rid, '')
    cache(ctx, rid, body)
    save(ctx)
    return { 'ok', body }
  end
end
return { 'none' }
