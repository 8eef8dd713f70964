-- ARGV: rid, holder, flags (RequestFlagsCodec, read by parse_flags), payload, taken (the highest
-- forward number the calling pod's link has taken in order, 0 when it does not know). A rid of -1
-- is the session's next one, whatever that is (HTTP Polling, XEP-0025: polls carry no rid). A
-- script-syntax ('fragment') payload is passed on as it is: the owner reassembles it (XEP-0252). An
-- 'open' request's payload is '<attributes of its answer>\n<to>\n<xml:lang>\n<route>\n<from>' and
-- its stream names the new stream.
-- Returns {kind, content, legacy, owner, wait, deadline, ...}, deadline '1' when this request, held,
-- has a deadline (prelude's expire: its holder answers it empty by itself once `wait` has passed):
--   'ok': nforwards, (rid, flags, payload)*, nanswers, (rid, holder, body)*
--   'parked' | 'resent' body | 'takeover' oldholder | 'ended' body | 'gone' | 'err' condition legacy | 'drop'
local ctx = load()
if not ctx then
  return { 'gone' }
end
if ctx.term then
  return { 'ended', ctx.term }
end
local rid, holder, raw_flags, payload = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local rid_arg = ARGV[1]
if rid == -1 then
  rid = ctx.hi + 1
  rid_arg = fmt(rid)
end
local flags = parse_flags(raw_flags)

-- XEP-0124 §19.1: a session begun over HTTPS takes no plain request, and does not end over one
if ctx.tls == '1' and flags.plain then
  return { 'drop' }
end

-- XEP-0124 §14.3: a resent rid gets its buffered response (rc lists every rid that has one)
local cached = is_cached(ctx, rid_arg) and unpacked(redis.call('HGET', S, 'r:' .. rid_arg))
if cached then
  return { 'resent', ctx.ct, ctx.leg, ctx.own, ctx.wait, '0', cached }
end
if rid <= ctx.hi then
  for _, e in ipairs(ctx.held) do
    if e[1] == rid then
      -- a repeat of a held rid: the newest copy takes over, the older gets a recoverable error
      local old = e[2]
      e[2] = holder
      e[3] = deadline(ctx)
      e[4] = nil
      save(ctx)
      publish_answer(old, RECOVERABLE)
      return { 'takeover', ctx.ct, ctx.leg, ctx.own, ctx.wait, e[3] and '1' or '0', old }
    end
  end
  local dl = deadline(ctx)
  if rehold(ctx, rid, holder, dl) then
    -- its payloads went to the server the first time; waiting stanzas are its answer now
    flush(ctx)
    save(ctx)
    return flat_answers({ 'ok', ctx.ct, ctx.leg, ctx.own, ctx.wait, dl and '1' or '0', 0 }, ctx.answers)
  end
  return { 'err', 'item-not-found', ctx.leg }
end
-- XEP-0124 §11: a pause or terminate request may be one beyond `requests`
local window = ctx.req + ((flags.pause > 0 or flags.terminate) and 1 or 0)
local ahead = answered_ahead(ctx)
-- XEP-0124 §14.2: above the window
if rid > ctx.hi + window + ahead then
  return { 'err', 'item-not-found', ctx.leg }
end
-- XEP-0124 §16.4: a named stream must be open, or have just closed
local named = ctx.sf ~= '' and flags.stream
if named and not flags.open and not has(ctx.st, named) and not has(ctx.sc, named) then
  return { 'err', 'item-not-found', ctx.leg }
end
local key = 'a:' .. rid_arg
local parked = rid > ctx.hi + 1 and redis.call('HGET', S, key)
if parked then
  local old, rest = string.match(parked, '^([^|]*)|(.*)$')
  redis.call('HSET', S, key, holder .. '|' .. rest)
  save(ctx)
  publish_answer(old, RECOVERABLE)
  return { 'takeover', ctx.ct, ctx.leg, ctx.own, ctx.wait, '0', old }
end
-- XEP-0124 §11: more new requests outstanding than `requests`, none of them answered
if #ctx.held + ctx.np - ahead + 1 > window then
  return { 'err', 'policy-violation', ctx.leg }
end
if rid > ctx.hi + 1 then
  redis.call('HSET', S, key, holder .. '|' .. raw_flags .. '|' .. payload)
  ctx.np = ctx.np + 1
  ctx.lt = now()
  save(ctx)
  return { 'parked', ctx.ct, ctx.leg, ctx.own, ctx.wait, '0' }
end

-- XEP-0124 §11, §12: empty requests closer together than `polling` seconds. A polling session
-- (hold or wait 0) may not poll again that soon after an answer without payloads; any other
-- session may not add an empty request that fills `requests` while the others wait. Both look
-- at the newest request only: one that fills a gap below parked requests is not the newest.
local empty = payload == '' and not (flags.restart or flags.terminate or flags.open or flags.fragment) and flags.pause == 0
if empty and ctx.np == 0 and ctx.pol > 0 and now() - last_time(ctx) < ctx.pol * 1000 then
  if ctx.hold == 0 or ctx.wait == 0 then
    if ctx.le == '1' then
      return { 'err', 'policy-violation', ctx.leg }
    end
  elseif #ctx.held + 1 == ctx.req then
    return { 'err', 'policy-violation', ctx.leg }
  end
end

-- XEP-0124 §15: once keys are in use, each request's key must hash (SHA-1, hex) to the previous
-- one; a key together with a newkey starts a new sequence.
local function key_ok(f)
  local k = f.key
  local n = f.newkey
  if ctx.k ~= '' then
    if not k or redis.sha1hex(k) ~= string.lower(ctx.k) then
      return false
    end
    ctx.k = n or k
  elseif n then
    ctx.k = n
  end
  return true
end
if not key_ok(flags) then
  return { 'err', 'item-not-found', ctx.leg }
end

-- XEP-0124 §9.2: the client acknowledges responses (the flags' ack). When its ack is
-- below the last response sent, and the next one has been on its way for a while, this request
-- is answered at once with report (the first missing rid) and time (ms since it was sent).
local report
local client_ack = ctx.ack == '1' and flags.ack
if client_ack then
  local rc = cached_rids(ctx)
  local last = rc[#rc]
  if last and client_ack < rc_rid(last) + 0 then
    for _, e in ipairs(rc) do
      local r, ms = rc_rid(e), rc_ms(e)
      if r + 0 == client_ack + 1 and now() - ms >= REPORT_GRACE_MS then
        report = ' report="' .. r .. '" time="' .. fmt(math.min(now() - ms, 65535)) .. '"'
      end
    end
  end
end
if ctx.ack == '1' then
  -- XEP-0124 §9.1: a request without ack says every earlier response arrived
  ctx.ak = math.max(ctx.ak, client_ack or rid - 1)
end
ctx.lt = now()
ctx.le = empty and '1' or '0'

-- in order: process this rid and every parked successor. What carries something for the server
-- (payloads, a restart, a terminate, a new stream) gets the session's next forward number; empty
-- polls nothing. Requests that open or close one stream are answered at once (XEP-0124 §16.3,
-- §16.5): `now` maps their rid to the attributes of that answer.
local fw, now_answers = {}, {}
-- returns whether the request ends the session
local function forward(rid, f, p)
  local s = ctx.sf ~= '' and f.stream or nil
  if f.open then
    if not s or has(ctx.st, s) or has(ctx.sc, s) then
      return false -- no stream name to give: a plain poll
    end
    if #ctx.st >= MAX_STREAMS then
      now_answers[rid] = ' type="terminate" condition="policy-violation" stream="' .. s .. '"'
      return false
    end
    ctx.st[#ctx.st + 1] = s
    ctx.streams_changed = true
    now_answers[rid] = ' stream="' .. s .. '"' .. string.match(p, '^[^\n]*')
    ctx.fs = ctx.fs + 1
    fw[#fw + 1] = { ctx.fs, flags_text({ open = true, pause = 0, stream = s }), p }
    return false
  end
  local ends = f.terminate
  if ends and s and not (has(ctx.st, s) and #ctx.st == 1) then
    -- one stream closes; the session goes on with the others
    if has(ctx.st, s) then
      close_stream(ctx, s)
    end
    now_answers[rid] = ' type="terminate" stream="' .. s .. '"'
    ends = false
  end
  if p ~= '' or f.restart or f.terminate then
    ctx.fs = ctx.fs + 1
    fw[#fw + 1] = { ctx.fs, flags_text({ restart = f.restart, terminate = f.terminate, fragment = f.fragment, pause = f.pause, stream = s }), p }
  end
  return ends
end
local ending = forward(rid, flags, payload)
local dl = deadline(ctx)
ctx.held[#ctx.held + 1] = { rid, holder, dl }
ctx.hi = rid
local pause = flags.pause
local taken = {}
-- (np counts the parked requests: none, nothing to look for)
while not ending and ctx.np > 0 do
  local key = 'a:' .. fmt(ctx.hi + 1)
  local parked = redis.call('HGET', S, key)
  if not parked then
    break
  end
  redis.call('HDEL', S, key)
  taken[#taken + 1] = { key, parked }
  ctx.np = ctx.np - 1
  local h, f, p = parked_entry(parked)
  if not key_ok(f) then
    -- the session ends over it, as if this request had never come: every parked request is back,
    -- so ending the session answers each of them at once
    for _, t in ipairs(taken) do
      redis.call('HSET', S, t[1], t[2])
    end
    return { 'err', 'item-not-found', ctx.leg }
  end
  ctx.hi = ctx.hi + 1
  ending = forward(ctx.hi, f, p)
  if h ~= '-' then
    ctx.held[#ctx.held + 1] = { ctx.hi, h }
  end
  pause = f.pause
end

-- only now that nothing can refuse the request: a refused one leaves every field as it was
if client_ack then
  acknowledged(ctx, client_ack)
end

if ctx.own ~= ME then
  -- the upstream link lives on the owner pod: hand the payloads over through the inbound list
  for _, f in ipairs(fw) do
    redis.call('RPUSH', I, fmt(f[1]) .. '|' .. f[2] .. '|' .. f[3])
  end
  if #fw > 0 then
    redis.call('PUBLISH', 'xb:pod:' .. ctx.own, 'f\n' .. sid())
  end
  fw = {}
else
  -- durable until the owner has surely taken them: a lost reply is recovered from here; what the
  -- owner's link already took it can no longer miss, so an idle session keeps no copies
  -- each new number drops the one KEPT_FORWARDS before it; written with the session's other fields
  local taken = tonumber(ARGV[5] or '0') or 0
  if taken > 0 then
    for seq = math.max(1, taken - KEPT_FORWARDS + 1), math.min(taken, ctx.fs) do
      put(ctx, 'w:' .. fmt(seq), false)
    end
  end
  for _, f in ipairs(fw) do
    put(ctx, 'w:' .. fmt(f[1] - KEPT_FORWARDS), false)
  end
  -- the new ones the others did not drop already (more than KEPT_FORWARDS forwards in one request)
  for _, f in ipairs(fw) do
    if f[1] > fw[#fw][1] - KEPT_FORWARDS then
      put(ctx, 'w:' .. fmt(f[1]), f[2] .. '|' .. f[3])
    end
  end
end

local out = { 'ok', ctx.ct, ctx.leg, ctx.own, ctx.wait, dl and '1' or '0', #fw }
for _, f in ipairs(fw) do
  out[#out + 1] = fmt(f[1])
  out[#out + 1] = f[2]
  out[#out + 1] = f[3]
end

if ending then
  -- XEP-0124 §13: the oldest open request gets type='terminate' (with any waiting stanzas), the others empty bodies
  local open = OPEN .. ' type="terminate"'
  local answers = final_answers(ctx, close_body(open, take_final(ctx)), close_body(OPEN, ''))
  entomb(ctx, close_body(open, ''))
  return flat_answers(out, answers)
end

for i = #ctx.held, 1, -1 do
  local attrs = now_answers[ctx.held[i][1]]
  if attrs then
    answer_at(ctx, i, '', attrs)
  end
end
if report then
  -- everything up to this request is answered now, waiting stanzas with the oldest
  local data, extra = take(ctx)
  while #ctx.held > 0 and ctx.held[1][1] <= rid do
    answer_at(ctx, 1, data, ctx.held[1][1] == rid and (extra .. report) or extra)
    data, extra = '', ''
  end
end
if pause > 0 then
  -- XEP-0124 §10: every held request is answered at once; waiting stanzas stay queued for the
  -- client's return, and the session lives for the pause instead of the inactivity period
  while #ctx.held > 0 do
    answer_at(ctx, 1, '')
  end
end
-- any request processed in order ends a pause in force, or starts a new one
ctx.pz = pause
flush(ctx)
save(ctx)
return flat_answers(out, ctx.answers)
