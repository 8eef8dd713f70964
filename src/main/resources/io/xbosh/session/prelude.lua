-- Shared by every xbosh script. KEYS[1] is the session hash, KEYS[2] its outbound stanza list,
-- KEYS[3] its inbound list (client payloads for an owner on another pod); all carry the hash tag
-- {sid} so they live in one Redis Cluster slot. ARGV[1] is the calling pod's id, removed by begin
-- so that each script's own arguments start at ARGV[1].
--
-- Session hash fields: hi (highest rid processed in order), hold, req (requests), wait, inact
-- (seconds), ack ('1' when the client asked for acks), ct (content type), leg ('1' legacy client),
-- own (owner pod), held ('rid=holder ...' in rid order; 'rid=holder@ms' for a request the store answers empty by
-- itself at that Redis time, its deadline, see expire), rc ('rid:ms ...' buffered responses, oldest
-- first, with the Redis time each was sent), pol (polling, seconds), lt (Redis time in ms the newest
-- new request arrived), le ('1' when that request was an empty poll and no answer since carried payloads),
-- np (parked count), pz (seconds of a pause in force, 0 when none), fs (forwards numbered so far),
-- k (the key the next request's key must hash to, '' when keys are not used), sf (name of the first
-- stream, absent when the session has no stream names: XEP-0124 §16 is off), st (open streams, space
-- separated, oldest first; absent while the first is the only one), sc (recently closed streams),
-- tls ('1' when the session began over
-- HTTPS: its requests must all be encrypted), ab (rids of held requests whose client closed the
-- connection, absent when none: a resend waits again), ak (the highest rid the client said it has
-- the response of, sessions with acks only), dt (the latest delivery token of each link that
-- delivered lately and the answers its batch gave, see deliver.lua), r:<rid> (buffered response),
-- w:<seq> ('flags|payload', the last KEPT_FORWARDS forwards returned to the owner in an accept or drain reply),
-- a:<rid> ('holder|flags|payload' parked request, flags as parse_flags reads them), p (hold ... ct
-- once more, packed: params_text), term (tombstone: the final body of an ended session; no other field is then present).
--
-- Outbound list items: a stanza of the first stream as it is; '\1<stream>\1<stanza>' a stanza of
-- another stream; '\2<stream>\2<attributes>\2<children>' the end of one stream (XEP-0124 §16.6);
-- after the end only, '\3<stream>\3<body>' a response the client never acknowledged (stream '' for the first).
-- The list outlives the session by the tombstone period, so the owner can bounce what the client
-- never got (XEP-0206 §7).
local OPEN = __OPEN__
local RECOVERABLE = __RECOVERABLE__
local TOMBSTONE_MS = __TOMBSTONE_MS__
local MAX_OUT = __MAX_OUT__
local MAX_OUT_BYTES = __MAX_OUT_BYTES__
local MAX_BODY_BYTES = __MAX_BODY_BYTES__
local REPORT_GRACE_MS = __REPORT_GRACE_MS__
local RESEND_MARGIN_MS = __RESEND_MARGIN_MS__
local EXPIRY_MARGIN_MS = __EXPIRY_MARGIN_MS__
local MAX_STREAMS = __MAX_STREAMS__
local MAX_CLOSED = 8
-- around client payloads accepted but never written to the server, in a terminate body
local UNDELIVERED_OPEN = '<undelivered xmlns="__UNDELIVERED_NS__">'
local UNDELIVERED_CLOSE = '</undelivered>'
-- forwards kept (w:<seq>) for an owner that lost the accept or drain reply carrying them
local KEPT_FORWARDS = __KEPT_FORWARDS__

-- One call's keys, calling pod and sid, and Redis' clock once read (see now), set by begin: as a
-- script (EVAL) the prelude runs on every call, in the function library (ScriptLibrary) once, and
-- every function begins with begin.
-- The globals the scripts use, bound once (in the function library a library's global is looked
-- up through its environment's __index on every use, each a few hundred instructions; as locals
-- they are upvalues). A library being loaded sees only the redis API, so they are bound by the
-- first call's begin; `redis` is the loading API until then (the library registers its functions
-- with it).
local function globals()
  return redis, string, table, math, ipairs, unpack, tonumber
end
local redis, string, table, math, ipairs, unpack, tonumber = redis, nil, nil, nil, nil, nil, nil

local S, O, I, ME, MEH, SID, clock, clock_s, clock_us, clock_text
local function begin(keys, args)
  if not string then
    redis, string, table, math, ipairs, unpack, tonumber = globals()
  end
  S, O, I = keys[1], keys[2], keys[3]
  ME = table.remove(args, 1)
  MEH, SID, clock, clock_text = nil, nil, nil, nil
end

-- the sid (the hash tag of the keys), for the messages that name it
local function sid()
  SID = SID or string.sub(S, 5, -2)
  return SID
end

-- Integers read from the hash: arithmetic coercion converts a string once, where tonumber converts
-- it twice (lua_isnumber, then lua_tonumber), each a strtod. Short ones (the session's parameters
-- and counts: '0', '1', '60' ...) are remembered across calls, at most SMALL_INTS of them (in the
-- function library the prelude's locals live as long as the library).
local SMALL, small_ints, SMALL_INTS = {}, 0, 1024
local function int(s)
  local n = SMALL[s]
  if n then
    return n
  end
  n = s + 0
  if #s <= 4 and small_ints < SMALL_INTS then
    SMALL[s] = n
    small_ints = small_ints + 1
  end
  return n
end

-- Pods listen on 'xb:pod:<id>': 'a\n<holder>\n<body>' answers a request the pod holds,
-- 'f\n<sid>' says client payloads wait in the session's inbound list for the owner, 'e\n<sid>'
-- that the session ended on another pod than its owner. On a Redis Cluster a holder 'pod#n~tag'
-- also listens on the sharded channel 'xb:pod:<id>{tag}', whose tag the pod chose to hash to this
-- session's slot (ShardChannels): the answer goes there, to the holder's connection to the node
-- running this script, ahead of its fence; when no client of this node listens there, to the pod channel.
local function publish_answer(holder, body)
  -- held here (the pod is what comes before the holder's last '#'): nothing to publish
  MEH = MEH or ME .. '#'
  if string.find(holder, MEH, 1, true) == 1 and not string.find(holder, '#', #MEH + 1, true) then
    return
  end
  local pod = string.match(holder, '^(.*)#')
  if pod and pod ~= ME then
    local msg = 'a\n' .. holder .. '\n' .. body
    local tag = string.match(holder, '~(%w+)$')
    if not tag or redis.call('SPUBLISH', 'xb:pod:' .. pod .. '{' .. tag .. '}', msg) == 0 then
      redis.call('PUBLISH', 'xb:pod:' .. pod, msg)
    end
  end
end

-- integers only (rids, Redis times in ms, counts): '%d' formats up to 2^63 exactly, and faster
-- than '%.0f'. (No library-level reference to string.format: a library being loaded sees only the
-- redis API.)
local function fmt(n)
  return string.format('%d', n)
end

-- A buffered response (r:<rid>) is stored without the <body/> start that every response begins
-- with ('\0' stands for it): an empty answer is then a few bytes, and a session hash whose values
-- all stay under Redis' hash-max-listpack-value (64 by default) can be a listpack (see compact)
local function packed(body)
  if string.find(body, OPEN, 1, true) == 1 then
    return '\0' .. string.sub(body, #OPEN + 1)
  end
  return body
end

local function unpacked(v)
  if v and string.byte(v, 1) == 0 then
    return OPEN .. string.sub(v, 2)
  end
  return v
end

-- a buffered response's entry (rc, see cached_rids): its rid, as text
local function rc_rid(e)
  return string.match(e, '^%d+')
end

-- an entry's Redis time in ms, as a number (0 when it has none)
local function rc_ms(e)
  local ms = string.match(e, ':(%d+)$')
  return ms and ms + 0 or 0
end

local function close_body(open, payload)
  if payload == '' then
    return open .. '/>'
  end
  return open .. '>' .. payload .. '</body>'
end

-- Request flags, as RequestFlagsCodec writes them (the only place the scripts read them):
-- letters r restart, t terminate, o open a stream, f script-syntax content (XEP-0252), then
-- p<n> a pause, then ';K=<key>', ';N=<newkey>', ';A=<ack>', ';S=<stream>' and ';U' (came
-- unencrypted), each only when present. Never holds '|'.
local function parse_flags(text)
  -- most requests carry no flags, or only ';U'
  if text == '' or text == ';U' then
    return { restart = false, terminate = false, open = false, fragment = false, pause = 0, plain = text ~= '' }
  end
  local base = string.match(text, '^[^;]*')
  return { restart = string.find(base, 'r', 1, true) ~= nil, terminate = string.find(base, 't', 1, true) ~= nil,
    open = string.find(base, 'o', 1, true) ~= nil, fragment = string.find(base, 'f', 1, true) ~= nil,
    pause = tonumber(string.match(base, 'p(%d+)') or '0'), key = string.match(text, ';K=(%w+)'),
    newkey = string.match(text, ';N=(%w+)'), ack = tonumber(string.match(text, ';A=(%d+)') or ''),
    stream = string.match(text, ';S=([%w_-]+)'), plain = string.find(text, ';U', 1, true) ~= nil }
end

-- The flags of a forward (what the owner reads of them: RequestFlagsCodec.forward), in that form
local function flags_text(f)
  return (f.restart and 'r' or '') .. (f.terminate and 't' or '') .. (f.open and 'o' or '') .. (f.fragment and 'f' or '')
    .. (f.pause > 0 and 'p' .. fmt(f.pause) or '') .. (f.stream and ';S=' .. f.stream or '')
end

-- A parked request (a:<rid>): holder ('-' once answered), flags, payload
local function parked_entry(v)
  local h, f, p = string.match(v, '^([^|]*)|([^|]*)|(.*)$')
  return h, parse_flags(f), p
end

-- Redis' clock, one reading per script
local function now()
  if not clock then
    local t = redis.call('TIME')
    clock_s, clock_us = t[1], t[2]
    clock = clock_s * 1000 + math.floor(clock_us / 1000)
  end
  return clock
end

-- the same as fmt(now()), from TIME's seconds and microseconds as they came (the seconds have no
-- leading zero once there is one)
local function now_text()
  if not clock_text then
    clock_text = now() >= 1000 and clock_s .. string.sub('00000' .. clock_us, -6, -4) or fmt(clock)
  end
  return clock_text
end

-- XEP-0124 §9.1: ack is the highest rid received without gaps, omitted when it equals the answered
-- rid; `extra` holds further attributes (report and time, §9.2)
local function render(ctx, rid, payload, extra)
  local open = OPEN
  if ctx.ack == '1' and ctx.hi ~= rid then
    open = open .. ' ack="' .. fmt(ctx.hi) .. '"'
  end
  return close_body(open .. (extra or ''), payload)
end

local function ttl_ms(ctx)
  -- XEP-0124 §10: the inactivity clock runs only while no request is held (or parked)
  if #ctx.held > 0 or ctx.np > 0 then
    return (ctx.wait + ctx.inact + 10) * 1000
  end
  if ctx.pz > 0 then
    return ctx.pz * 1000
  end
  return ctx.inact * 1000
end

-- A write of a field (value false: its removal) kept until the script writes the session: every
-- such write of one call goes in one HSET and one HDEL (write), and the script reads its own
-- writes through field(). A script that only reads keeps them for ever: its writes are virtual.
local function put(ctx, name, value)
  if ctx.pend[name] == nil then
    ctx.pf[#ctx.pf + 1] = name
  end
  ctx.pend[name] = value
end

-- a field's value as this call left it (false when absent)
local function field(ctx, name)
  local v = ctx.pend[name]
  if v ~= nil then
    return v
  end
  return redis.call('HGET', S, name)
end

-- the kept writes, with `w` (field, value pairs of the caller's own)
local function write(ctx, w)
  local gone = {}
  for _, name in ipairs(ctx.pf) do
    local v = ctx.pend[name]
    if v then
      w[#w + 1] = name
      w[#w + 1] = v
    else
      gone[#gone + 1] = name
    end
  end
  ctx.pf, ctx.pend = {}, {}
  if #gone > 0 then
    redis.call('HDEL', S, unpack(gone))
  end
  if #w > 0 then
    redis.call('HSET', S, unpack(w))
  end
end

-- the bytes waiting in the outbound list, written only when they changed (absent: none)
local function save_bytes(ctx)
  if ctx.ob ~= ctx.ob0 then
    put(ctx, 'ob', ctx.ob > 0 and fmt(ctx.ob))
    ctx.ob0 = ctx.ob
  end
end

-- Redis turns a hash into a hashtable once one value passes hash-max-listpack-value (64 bytes by
-- default) and never back; a listpack takes a fraction of the memory. So a session that rests
-- (nothing waits for its client) and whose values are all small again (its login's features and
-- roster answers were dropped from the cache) is written anew, as a listpack. The TTL is set after.
local LISTPACK_VALUE, LISTPACK_ENTRIES = 64, 128
local function compact(ctx, written)
  if ctx.ob > 0 or ctx.np > 0 or written > LISTPACK_VALUE then
    return
  end
  if ctx.large then
    for _, e in ipairs(ctx.rc) do
      -- a response cached by this script that is too large: the hash stays a hashtable (no HGETALL needed to see it)
      if ctx.large[rc_rid(e)] then
        return
      end
    end
  end
  if redis.call('OBJECT', 'ENCODING', S) ~= 'hashtable' then
    return
  end
  local all = redis.call('HGETALL', S)
  if #all > 2 * LISTPACK_ENTRIES then
    return
  end
  for i = 1, #all do
    if #all[i] > LISTPACK_VALUE then
      return
    end
  end
  redis.call('DEL', S)
  redis.call('HSET', S, unpack(all))
end

-- (an entry as load read it is written as it was, e[4])
local function held_entry(e)
  return e[4] or fmt(e[1]) .. '=' .. e[2] .. (e[3] and '@' .. fmt(e[3]) or '')
end

-- the window's two encoded fields: held requests and the cached responses' rid:ms
local function encode_window(ctx)
  local held = {}
  for i, e in ipairs(ctx.held) do
    held[i] = held_entry(e)
  end
  return table.concat(held, ' '), ctx.rc_changed and table.concat(ctx.rc, ' ') or ctx.loaded[4]
end

-- (field, value) when the value differs from what load read (v: HMGET's reply, false when absent)
local function changed(w, v, field, value)
  if value ~= v then
    w[#w + 1] = field
    w[#w + 1] = value
  end
end

-- (field, value) when a count differs from what load read (n0) or its field was absent (v)
local function changed_int(w, v, n0, field, n)
  if n ~= n0 or not v then
    w[#w + 1] = field
    w[#w + 1] = fmt(n)
  end
end

local function save(ctx)
  local held, rc = encode_window(ctx)
  -- the window's fields, only those that changed: a deliver changes held and rc alone
  local v, w = ctx.loaded, {}
  changed_int(w, v[1], ctx.hi0, 'hi', ctx.hi)
  changed(w, v[3], 'held', held)
  changed(w, v[4], 'rc', rc)
  changed_int(w, v[5], ctx.np0, 'np', ctx.np)
  changed_int(w, v[6], ctx.pz0, 'pz', ctx.pz)
  changed_int(w, v[7], ctx.fs0, 'fs', ctx.fs)
  changed(w, v[8], 'k', ctx.k)
  if ctx.lt then
    changed(w, v[9], 'lt', fmt(ctx.lt))
  end
  changed(w, v[10], 'le', ctx.le)
  if ctx.ack == '1' then
    changed_int(w, v[12], ctx.ak0, 'ak', ctx.ak)
  end
  if ctx.streams_changed then
    put(ctx, 'st', not (#ctx.st == 1 and ctx.st[1] == ctx.sf) and table.concat(ctx.st, ' '))
    put(ctx, 'sc', table.concat(ctx.sc, ' '))
  end
  if ctx.ab_changed then
    local ab = {}
    for i, r in ipairs(ctx.ab) do
      ab[i] = fmt(r)
    end
    put(ctx, 'ab', #ab > 0 and table.concat(ab, ' '))
  end
  save_bytes(ctx)
  write(ctx, w)
  compact(ctx, math.max(#held, #rc))
  local ms = ttl_ms(ctx)
  redis.call('PEXPIRE', S, ms)
  -- the outbound list exists only while bytes wait in it (ob; every item is a stanza, never empty)
  if ctx.ob > 0 then
    redis.call('PEXPIRE', O, ms + TOMBSTONE_MS)
  end
  redis.call('PEXPIRE', I, ms)
end

-- A held request abandoned by its client: its rid is remembered (the last `requests` of them) so
-- that a resend of it waits again rather than meeting item-not-found
local function abandon(ctx, rid)
  ctx.ab[#ctx.ab + 1] = rid
  if #ctx.ab > ctx.req then
    table.remove(ctx.ab, 1)
  end
  ctx.ab_changed = true
end

-- XEP-0124 §14.3: the resend of an abandoned rid; true when it waits again, held in rid order
-- (until `dl`, its deadline, when it has one)
local function rehold(ctx, rid, holder, dl)
  for i, r in ipairs(ctx.ab) do
    if r == rid then
      table.remove(ctx.ab, i)
      ctx.ab_changed = true
      local at = #ctx.held + 1
      for k, e in ipairs(ctx.held) do
        if e[1] > rid then
          at = k
          break
        end
      end
      table.insert(ctx.held, at, { rid, holder, dl })
      return true
    end
  end
  return false
end

-- Parked requests already answered (their wait ran out before their turn, XEP-0124 §8): the
-- client no longer counts them as outstanding, so each lets it send one rid further (§14.2) and
-- none counts against `requests` (§11)
local function answered_ahead(ctx)
  if ctx.np == 0 then
    return 0
  end
  local n, r = 0, ctx.hi + 2
  while r <= ctx.hi + ctx.req + 1 + n do
    local v = redis.call('HGET', S, 'a:' .. fmt(r))
    if v and string.sub(v, 1, 2) == '-|' then
      n = n + 1
    end
    r = r + 1
  end
  return n
end

local function has(list, name)
  for _, s in ipairs(list) do
    if s == name then
      return true
    end
  end
  return false
end

-- XEP-0124 §16.5, §16.6: a stream leaves the open ones; its name stays known for a while, so that
-- payloads racing its end are dropped rather than ending the session
local function close_stream(ctx, name)
  ctx.streams_changed = true
  for i, s in ipairs(ctx.st) do
    if s == name then
      table.remove(ctx.st, i)
      break
    end
  end
  ctx.sc[#ctx.sc + 1] = name
  if #ctx.sc > MAX_CLOSED then
    table.remove(ctx.sc, 1)
  end
end

-- (rid: as text)
local function put_response(ctx, rid, body)
  local stored = packed(body)
  put(ctx, 'r:' .. rid, stored)
  if #stored > LISTPACK_VALUE then
    -- the hash stays a hashtable while this response is cached (compact need not read it back)
    ctx.large = ctx.large or {}
    ctx.large[rid] = true
  end
end

-- (rid: as text)
local function drop_response(ctx, rid)
  put(ctx, 'r:' .. rid, false)
end

-- The buffered responses' entries (rc), oldest first, each 'rid:ms' as the field holds it ('rid'
-- from a version before the times): split from the field when first needed (most calls that cache
-- nothing never need them), each entry read only where it is looked at (rc_rid, rc_ms)
local function cached_rids(ctx)
  local rc = ctx.rc
  if not rc then
    rc = {}
    for e in string.gmatch(ctx.loaded[4], '%S+') do
      rc[#rc + 1] = e
    end
    ctx.rc = rc
  end
  return rc
end

-- whether a rid (as text) has a buffered response
local function is_cached(ctx, rid)
  local rc = ' ' .. (ctx.rc and table.concat(ctx.rc, ' ') or ctx.loaded[4]) .. ' '
  return string.find(rc, ' ' .. rid .. ':', 1, true) ~= nil or string.find(rc, ' ' .. rid .. ' ', 1, true) ~= nil
end

-- The buffered response of a rid, or nil (in a script that reads only, as its expiries left it)
local function cached_response(ctx, rid)
  return unpacked(field(ctx, 'r:' .. fmt(rid))) or nil
end

-- XEP-0124 §14.3: buffer the last `requests` responses for retransmission; with acknowledgements,
-- every response the client has not acknowledged, up to twice as many (§9.2)
-- XEP-0124 §14.3: beyond the last `requests` responses (2 x `requests` with ack), one younger than
-- wait + RESEND_MARGIN_MS stays, since its client may still resend its rid; never more than
-- 2 x `requests` + 1 (SessionStore.cachedResponsesAtMost)
-- (`at`: when the response was sent, Redis time; now unless given)
local function cache(ctx, rid, body, at)
  local rc, r = cached_rids(ctx), fmt(rid)
  put_response(ctx, r, body)
  rc[#rc + 1] = r .. ':' .. (at and fmt(at) or now_text())
  ctx.rc_changed = true
  local keep = ctx.ack == '1' and 2 * ctx.req or ctx.req
  if #rc <= keep then
    return
  end
  local young = (at or now()) - (ctx.wait * 1000 + RESEND_MARGIN_MS)
  while #rc > keep and (#rc > 2 * ctx.req + 1 or rc_ms(rc[1]) <= young) do
    drop_response(ctx, rc_rid(table.remove(rc, 1)))
  end
end

-- XEP-0124 §8: a held request whose deadline passed counts as answered empty at its deadline, as
-- release would have answered it then; its holder answers it by itself, without a script. Every
-- script takes such requests out first (in the order of their deadlines), so no rule of the window
-- ever counts one as held, and a script that reads only sees them as taken out (nothing written).
-- The session's time to live is left as the accept set it. Not published: the holder needs nothing.
local function expire(ctx)
  local due = {}
  for _, e in ipairs(ctx.held) do
    if e[3] and e[3] <= now() then
      due[#due + 1] = e
    end
  end
  if #due == 0 then
    return
  end
  table.sort(due, function(a, b)
    if a[3] ~= b[3] then
      return a[3] < b[3]
    end
    return a[1] < b[1]
  end)
  for _, e in ipairs(due) do
    for i, h in ipairs(ctx.held) do
      if h == e then
        table.remove(ctx.held, i)
        break
      end
    end
    local body = render(ctx, e[1], '')
    cache(ctx, e[1], body, e[3])
    ctx.expired[e[1]] = { e[2], body }
  end
  if not ctx.readonly then
    local held, rc = encode_window(ctx)
    write(ctx, { 'held', held, 'rc', rc })
    -- what save compares with
    ctx.loaded[3], ctx.loaded[4] = held, rc
    ctx.rc_changed = false
  end
end

-- The deadline of a request held from now on (nil: none, it waits for release): `wait` less a
-- margin, so that the holder's own empty answer, once `wait` has passed since the accept reply
-- reached it, comes after the deadline even on a Redis clock stepped back by less than the margin.
-- Sessions with acks render an empty answer with the highest rid received at the moment it is
-- given, which the holder cannot know, and a wait under twice the margin gains little: both keep release.
local function deadline(ctx)
  if ctx.ack ~= '1' and ctx.wait * 1000 >= 2 * EXPIRY_MARGIN_MS then
    return now() + ctx.wait * 1000 - EXPIRY_MARGIN_MS
  end
  return nil
end

-- The session's parameters, which never change after create, in one field (p): hold, requests,
-- wait, inactivity, polling, ack, legacy and encrypted ('1' or '0'), then owner, first stream and
-- content type, each after a '\1' (params_text; the content type '' when it is DEFAULT_CONTENT, else
-- '=' and it, so that p stays under hash-max-listpack-value with a pod name of up to about 40
-- characters). create writes them as their own fields as well (hold, req, wait, inact, pol, ack,
-- leg, tls, own, sf, ct: what earlier versions read); a session without p (created by one of those)
-- is read from them.
local PARAM_FIELDS = { 'hold', 'req', 'wait', 'inact', 'pol', 'ack', 'leg', 'tls', 'own', 'sf', 'ct' }
local DEFAULT_CONTENT = 'text/xml; charset=utf-8'
local function params_text(hold, req, wait, inact, pol, ack, leg, tls, own, sf, ct)
  return hold .. ' ' .. req .. ' ' .. wait .. ' ' .. inact .. ' ' .. pol .. ' ' .. ack .. ' ' .. leg .. ' ' .. (tls or '0')
    .. '\1' .. own .. '\1' .. (sf or '') .. '\1' .. (ct == DEFAULT_CONTENT and '' or '=' .. ct)
end

-- p read once per distinct value, across calls: sessions share a few. A first stream's name (sf,
-- every session's while multiple streams are on) is unique to a session, so it is cut out of the
-- value kept and returned beside it, and sessions with the same parameters share one entry
-- (before, a p with a stream name was parsed again on every call); at most MAX_PARAMS kept, then
-- the lot is dropped. Returns the parameters (their sf is '') and the stream name, or nil.
local PARAMS, params_kept, MAX_PARAMS = {}, 0, 256
local function params(p)
  local t = PARAMS[p]
  if t then
    return t, ''
  end
  local sf, key = '', p
  local a = string.find(p, '\1', 1, true)
  local b = a and string.find(p, '\1', a + 1, true)
  local c = b and string.find(p, '\1', b + 1, true)
  if c and c > b + 1 then
    sf, key = string.sub(p, b + 1, c - 1), string.sub(p, 1, b) .. string.sub(p, c)
    t = PARAMS[key]
    if t then
      return t, sf
    end
  end
  local hold, req, wait, inact, pol, ack, leg, tls, own, ct =
    string.match(key, '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d) (%d) (%d)\1([^\1]*)\1\1(.*)$')
  if not hold then
    return nil
  end
  t = { hold = hold + 0, req = req + 0, wait = wait + 0, inact = inact + 0, pol = pol + 0, ack = ack, leg = leg,
    tls = tls == '1' and '1' or nil, own = own, sf = '', ct = ct == '' and DEFAULT_CONTENT or string.sub(ct, 2) }
  if params_kept >= MAX_PARAMS then
    PARAMS, params_kept = {}, 0
  end
  PARAMS[key] = t
  params_kept = params_kept + 1
  return t, sf
end

-- The session hash's fields the scripts read, by name: one HMGET per script; load reads the
-- reply by position (the numbers after each name), save writes back only what changed. A
-- tombstone (term) has no hi: only then is term read. The open streams (st, sc) are in the same
-- HMGET, used only when the session has stream names (sf): while multiple streams are on (the
-- default) every session has one, and a second HMGET cost more than two fields more in the first.
local FIELDS = { 'hi', 'p', 'held', 'rc', 'np', 'pz', 'fs', 'k', 'lt', 'le', 'ab', 'ak', 'ob', 'st', 'sc' }
--  hi 1, p 2, held 3, rc 4, np 5, pz 6, fs 7, k 8, lt 9, le 10, ab 11, ak 12, ob 13, st 14, sc 15 (Redis gives false for an absent field)

-- Counts and times are numbers; lt (read by accept alone) only when asked for (last_time), a cached
-- response's time (rc) stays the text load read until it is compared.
local function load(readonly)
  local v = redis.call('HMGET', S, unpack(FIELDS))
  if not v[1] then
    local term = redis.call('HGET', S, 'term')
    return term and { term = term } or nil
  end
  local pm, sf
  if v[2] then
    pm, sf = params(v[2])
  end
  if not pm then
    local o = redis.call('HMGET', S, unpack(PARAM_FIELDS))
    pm = { hold = int(o[1]), req = int(o[2]), wait = int(o[3]), inact = int(o[4]), pol = o[5] and int(o[5]) or 0,
      ack = o[6], leg = o[7], tls = o[8] or nil, own = o[9], sf = o[10] or '', ct = o[11] }
    sf = pm.sf
  end
  local hi, np, pz, fs, ak, ob = v[1] + 0, v[5] and int(v[5]) or 0, v[6] and int(v[6]) or 0, v[7] and v[7] + 0 or 0,
    v[12] and v[12] + 0 or 0, v[13] and v[13] + 0 or 0
  local ctx = { hi = hi, hold = pm.hold, req = pm.req, wait = pm.wait, inact = pm.inact, ack = pm.ack, ct = pm.ct,
    leg = pm.leg, own = pm.own, np = np, pz = pz, fs = fs, k = v[8] or '', pol = pm.pol, ak = ak, ob = ob,
    ob0 = ob, hi0 = hi, np0 = np, pz0 = pz, fs0 = fs, ak0 = ak, lt = nil, le = v[10] or '0', sf = sf, tls = pm.tls,
    st = {}, sc = {}, held = {}, ab = {}, answers = {}, expired = {}, readonly = readonly, pf = {}, pend = {},
    loaded = v }
  if v[11] then
    for r in string.gmatch(v[11], '%d+') do
      ctx.ab[#ctx.ab + 1] = r + 0
    end
  end
  if ctx.sf ~= '' then
    local st, sc = v[14], v[15]
    if st then
      for s in string.gmatch(st, '%S+') do
        ctx.st[#ctx.st + 1] = s
      end
    end
    if #ctx.st == 0 then
      ctx.st[1] = ctx.sf
    end
    if sc and sc ~= '' then
      for s in string.gmatch(sc, '%S+') do
        ctx.sc[#ctx.sc + 1] = s
      end
    end
  end
  if v[3] ~= '' then
    for e, r, h, d in string.gmatch(v[3], '((%d+)=([^%s@]+)@?(%d*))') do
      ctx.held[#ctx.held + 1] = { r + 0, h, d ~= '' and d + 0 or nil, e }
    end
  end
  expire(ctx)
  return ctx
end

-- Redis time in ms of the newest new request (lt), 0 when unknown
local function last_time(ctx)
  if not ctx.lt then
    ctx.lt = ctx.loaded[9] and ctx.loaded[9] + 0 or 0
  end
  return ctx.lt
end

-- XEP-0124 §9.2: responses up to the client's ack are no longer needed for retransmission
local function acknowledged(ctx, ack)
  local rc = cached_rids(ctx)
  while #rc > 1 and rc_rid(rc[1]) + 0 <= ack do
    drop_response(ctx, rc_rid(table.remove(rc, 1)))
    ctx.rc_changed = true
  end
end

-- The next run of waiting stanzas of one stream (XEP-0124 §16.4: a body never mixes streams), up to
-- and including that stream's end. Returns the payload, the body attributes it needs (stream
-- unless the run is the first stream's and no other is open; type/condition for a stream's end)
-- and how many items are left.
local function take(ctx)
  -- (ob: nothing waits)
  local items = ctx.ob > 0 and redis.call('LRANGE', O, 0, -1) or {}
  if #items == 0 then
    return '', ''
  end
  local run, stream, n, extra, ended, size, raw = {}, nil, 0, '', false, 0, 0
  for _, item in ipairs(items) do
    local b = string.byte(item, 1)
    local s, x, e
    if b == 1 then
      s, x = string.match(item, '^\1([^\1]*)\1(.*)$')
    elseif b == 2 then
      s, e, x = string.match(item, '^\2([^\2]*)\2([^\2]*)\2(.*)$')
    else
      s, x = ctx.sf, item
    end
    if stream == nil then
      stream = s
    elseif s ~= stream or size + #x > MAX_BODY_BYTES then
      -- one stream per body; at most MAX_BODY_BYTES of stanzas, but always at least one
      break
    end
    n = n + 1
    run[n] = x
    size = size + #x
    raw = raw + #item
    if b == 2 then
      extra = e
      ended = true
      break
    end
  end
  if n == #items then
    redis.call('DEL', O)
  else
    redis.call('LTRIM', O, n, -1)
  end
  ctx.ob = math.max(0, ctx.ob - raw)
  if ended or stream ~= ctx.sf or #ctx.st > 1 then
    extra = extra .. ' stream="' .. stream .. '"'
  end
  return table.concat(run), extra, #items - n
end

local function answer_at(ctx, i, payload, extra)
  local e = table.remove(ctx.held, i)
  if payload ~= '' then
    ctx.le = '0'
  end
  local body = render(ctx, e[1], payload, extra)
  cache(ctx, e[1], body)
  ctx.answers[#ctx.answers + 1] = { e[1], e[2], body }
  return body
end

-- XEP-0124 §8: waiting stanzas go out at once in the oldest held request; never more than `hold` held
local function flush(ctx)
  -- (ob: something waits; take tells how much is left, nothing when the list was empty after all)
  local left = ctx.ob > 0 and 1 or 0
  while #ctx.held > 0 and left > 0 do
    local payload, extra
    payload, extra, left = take(ctx)
    if not left then
      break
    end
    answer_at(ctx, 1, payload, extra)
  end
  while #ctx.held > ctx.hold do
    answer_at(ctx, 1, '')
  end
end

-- Holders of parked requests, for ending a session
local function parked_holders()
  local holders = {}
  local fields = redis.call('HKEYS', S)
  for _, k in ipairs(fields) do
    if string.sub(k, 1, 2) == 'a:' then
      local v = redis.call('HGET', S, k)
      local h = string.match(v, '^([^|]*)|')
      if h ~= '-' then
        holders[#holders + 1] = { tonumber(string.sub(k, 3)), h }
      end
    end
  end
  return holders
end

-- The final answers of an ending session: every held and parked request, oldest first; the oldest
-- gets `first`, the others `rest`
local function final_answers(ctx, first, rest)
  local all = ctx.held
  for _, e in ipairs(parked_holders()) do
    all[#all + 1] = e
  end
  table.sort(all, function(a, b) return a[1] < b[1] end)
  local answers = {}
  for i, e in ipairs(all) do
    answers[i] = { e[1], e[2], i == 1 and first or rest }
  end
  return answers
end

-- The inbound list outlives the end: a client's terminate payload may still wait there for its
-- owner; so does the outbound list, for the owner to bounce what no body carried (XEP-0206 §7)
local function entomb(ctx, body)
  if ctx.ack == '1' then
    -- XEP-0124 §9: responses the client never acknowledged may never have reached it; what they
    -- carried goes before the waiting stanzas, for the owner to bounce
    local rc = cached_rids(ctx)
    for i = #rc, 1, -1 do
      local r = rc_rid(rc[i])
      if r + 0 > ctx.ak then
        local b = unpacked(field(ctx, 'r:' .. r))
        if b and string.sub(b, -7) == '</body>' then
          local stream = string.match(string.match(b, '^<body[^>]*'), ' stream="([^"]*)"')
          redis.call('LPUSH', O, '\3' .. ((stream == nil or stream == ctx.sf) and '' or stream) .. '\3' .. b)
        end
      end
    end
  end
  if ctx.own and ctx.own ~= ME then
    -- the owner closes the link now rather than when its expiry index next reads the session
    redis.call('PUBLISH', 'xb:pod:' .. ctx.own, 'e\n' .. sid())
  end
  redis.call('DEL', S)
  redis.call('HSET', S, 'term', body)
  redis.call('PEXPIRE', S, TOMBSTONE_MS)
  redis.call('PEXPIRE', I, TOMBSTONE_MS)
  redis.call('PEXPIRE', O, TOMBSTONE_MS)
end

-- The waiting stanzas that go in a session's final terminate body: the first stream's run. A run
-- of another stream cannot go there (a terminate naming a stream ends only that stream) and stays
-- for the owner to bounce.
local function take_final(ctx)
  local head = redis.call('LINDEX', O, 0)
  if not head or string.byte(head, 1) == 1 or string.byte(head, 1) == 2 then
    return ''
  end
  return (take(ctx))
end

-- Appends the answers to a script result, and publishes those held by other pods
local function flat_answers(out, answers)
  out[#out + 1] = #answers
  for _, a in ipairs(answers) do
    publish_answer(a[2], a[3])
    out[#out + 1] = fmt(a[1])
    out[#out + 1] = a[2]
    out[#out + 1] = a[3]
  end
  return out
end
