-- ARGV: rid, hold, requests, wait, inactivity, ack, content, legacy, owner, response, newkey ('' for none), polling,
-- first stream ('' when streams are off), encrypted ('1' when begun over HTTPS)
-- a sid is not taken again while anything of it remains: an expired session's outbound list waits
-- for its owner to bounce it (leftovers) and must not become the new session's
if redis.call('EXISTS', S, O, I) > 0 then
  return 0
end
local rid = ARGV[1]
redis.call('HSET', S, 'hi', rid, 'hold', ARGV[2], 'req', ARGV[3], 'wait', ARGV[4], 'inact', ARGV[5],
  'ack', ARGV[6], 'ct', ARGV[7], 'leg', ARGV[8], 'own', ARGV[9], 'held', '', 'rc', rid .. ':' .. fmt(now()), 'np', 0,
  'r:' .. rid, packed(ARGV[10]), 'k', ARGV[11], 'pol', ARGV[12], 'lt', fmt(now()), 'le', '0')
-- absent fields cost nothing: most sessions never open a second stream, many are not encrypted
if ARGV[13] ~= '' then
  redis.call('HSET', S, 'sf', ARGV[13])
end
if ARGV[14] == '1' then
  redis.call('HSET', S, 'tls', '1')
end
redis.call('PEXPIRE', S, tonumber(ARGV[5]) * 1000)
return 1
