-- ARGV: stream ('' for the first), stanzas. Returns {'ok', nanswers, (rid, holder, body)*} | {'full'} | {'gone'}
local ctx = load()
if not ctx or ctx.term then
  return { 'gone' }
end
local stream = table.remove(ARGV, 1)
if redis.call('LLEN', O) + #ARGV > MAX_OUT then
  return { 'full' }
end
if stream ~= '' and stream ~= ctx.sf then
  for i, stanza in ipairs(ARGV) do
    ARGV[i] = '\1' .. stream .. '\1' .. stanza
  end
end
redis.call('RPUSH', O, unpack(ARGV))
flush(ctx)
if #ctx.answers > 0 then
  save(ctx)
else
  -- server traffic alone does not reset the inactivity clock
  redis.call('PEXPIRE', O, math.max(redis.call('PTTL', S), 1) + TOMBSTONE_MS)
end
return flat_answers({ 'ok' }, ctx.answers)
