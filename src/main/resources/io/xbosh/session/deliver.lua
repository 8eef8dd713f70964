-- ARGV: stream ('' for the first), stanzas. Returns {'ok', nanswers, (rid, holder, body)*} | {'full'} | {'gone'}
local ctx = load()
if not ctx or ctx.term then
  return { 'gone' }
end
local stream = table.remove(ARGV, 1)
if stream ~= '' and stream ~= ctx.sf then
  for i, stanza in ipairs(ARGV) do
    ARGV[i] = '\1' .. stream .. '\1' .. stanza
  end
end
local bytes = 0
for _, item in ipairs(ARGV) do
  bytes = bytes + #item
end
-- bounded in stanzas and bytes; a batch meeting an empty list always goes in, so a batch larger
-- than a bound is not refused for ever
local queued = redis.call('LLEN', O)
if queued > 0 and (queued + #ARGV > MAX_OUT or ctx.ob + bytes > MAX_OUT_BYTES) then
  return { 'full' }
end
redis.call('RPUSH', O, unpack(ARGV))
ctx.ob = (queued > 0 and ctx.ob or 0) + bytes
flush(ctx)
if #ctx.answers > 0 then
  save(ctx)
else
  save_bytes(ctx)
  -- server traffic alone does not reset the inactivity clock
  redis.call('PEXPIRE', O, math.max(redis.call('PTTL', S), 1) + TOMBSTONE_MS)
end
return flat_answers({ 'ok' }, ctx.answers)
