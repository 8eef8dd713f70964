-- ARGV: stream ('' for the first), token ('' for none), stanzas. Returns {'ok', nanswers, (rid, holder, body)*} | {'full'} | {'gone'}
--
-- The token ('<link>:<n>', n counting up per link) makes a retried batch apply once: a link whose
-- reply was lost (a connection reset while Redis restarts or fails over) sends the same batch with
-- the same token. The session field dt holds, per link that delivered lately (at most
-- 2 x MAX_STREAMS, the least recent first), '<link>:<n>' followed by the 'rid=holder' answers that
-- batch gave: a token seen before applies nothing and replies with those answers again, their
-- bodies from the buffered responses (r:<rid>), published to no pod (they were the first time).
local ctx = load()
if not ctx or ctx.term then
  return { 'gone' }
end
local stream = table.remove(ARGV, 1)
local token = table.remove(ARGV, 1)
local link, seq = string.match(token, '^([^%s=]+):(%d+)$')
local tokens = {}
if link then
  seq = tonumber(seq)
  local dt = redis.call('HGET', S, 'dt') or ''
  local p = link .. ':'
  -- the common case, only this link's older token (no other link's ':' after it; a holder has
  -- none): nothing of dt is kept, no need to read it word by word
  if string.find(dt, p, 1, true) == 1 and not string.find(dt, ':', #p + 1, true)
      and (tonumber(string.match(dt, '^%d+', #p + 1) or '') or seq) < seq then
    dt = ''
  end
  for w in string.gmatch(dt, '%S+') do
    local r, h = string.match(w, '^(%d+)=(.+)$')
    if r and #tokens > 0 then
      local given = tokens[#tokens][3]
      given[#given + 1] = { tonumber(r), h }
    else
      local l, n = string.match(w, '^(.*):(%d+)$')
      tokens[#tokens + 1] = { l, tonumber(n), {} }
    end
  end
  for i, e in ipairs(tokens) do
    if e[1] == link then
      if e[2] >= seq then
        -- an older token (not sent by a link that waits for each reply) gets no answers
        local out = { 'ok', 0 }
        for _, a in ipairs(e[2] == seq and e[3] or {}) do
          local body = unpacked(redis.call('HGET', S, 'r:' .. fmt(a[1])))
          if body then
            out[2] = out[2] + 1
            out[#out + 1] = fmt(a[1])
            out[#out + 1] = a[2]
            out[#out + 1] = body
          end
        end
        return out
      end
      table.remove(tokens, i)
      break
    end
  end
end
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
-- (ob: nothing waits, the list does not exist)
local queued = ctx.ob > 0 and redis.call('LLEN', O) or 0
if queued > 0 and (queued + #ARGV > MAX_OUT or ctx.ob + bytes > MAX_OUT_BYTES) then
  return { 'full' }
end
if queued == 0 and #ctx.held > 0 then
  -- nothing waits and a request is held (the common case): the held requests take the batch as
  -- take() would have taken it from the list, and only what they leave goes into the list
  local s = (stream ~= '' and stream ~= ctx.sf) and stream or ctx.sf
  local extra = (s ~= ctx.sf or #ctx.st > 1) and ' stream="' .. s .. '"' or ''
  -- another stream's stanzas carry their tag ('\1<stream>\1') from above
  local prefix = s ~= ctx.sf and #s + 2 or 0
  local i = 1
  while #ctx.held > 0 and i <= #ARGV do
    -- one stream per body; at most MAX_BODY_BYTES of stanzas, but always at least one
    local first, size = i, #ARGV[i] - prefix
    i = i + 1
    while i <= #ARGV and size + #ARGV[i] - prefix <= MAX_BODY_BYTES do
      size = size + #ARGV[i] - prefix
      i = i + 1
    end
    local run = {}
    for k = first, i - 1 do
      run[#run + 1] = prefix == 0 and ARGV[k] or string.sub(ARGV[k], prefix + 1)
    end
    answer_at(ctx, 1, table.concat(run), extra)
  end
  ctx.ob = 0
  if i <= #ARGV then
    redis.call('RPUSH', O, unpack(ARGV, i))
    for k = i, #ARGV do
      ctx.ob = ctx.ob + #ARGV[k]
    end
  end
else
  redis.call('RPUSH', O, unpack(ARGV))
  ctx.ob = (queued > 0 and ctx.ob or 0) + bytes
end
flush(ctx)
if link then
  local given = {}
  for _, a in ipairs(ctx.answers) do
    given[#given + 1] = { a[1], a[2] }
  end
  tokens[#tokens + 1] = { link, seq, given }
  while #tokens > 2 * MAX_STREAMS do
    table.remove(tokens, 1)
  end
  local words = {}
  for _, e in ipairs(tokens) do
    words[#words + 1] = e[1] .. ':' .. fmt(e[2])
    for _, a in ipairs(e[3]) do
      words[#words + 1] = fmt(a[1]) .. '=' .. a[2]
    end
  end
  put(ctx, 'dt', table.concat(words, ' '))
end
if #ctx.answers > 0 then
  save(ctx)
else
  save_bytes(ctx)
  write(ctx, {})
  -- server traffic alone does not reset the inactivity clock
  redis.call('PEXPIRE', O, math.max(redis.call('PTTL', S), 1) + TOMBSTONE_MS)
end
return flat_answers({ 'ok' }, ctx.answers)
