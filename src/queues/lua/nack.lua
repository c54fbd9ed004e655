-- Negative acknowledgement: retry after delayMs or exponential backoff with jitter, or dead once the
-- message's attempts are spent; the receipt is spent either way
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] inflight
-- KEYS[4] dead
-- KEYS[5] meta
-- KEYS[6] stats
-- KEYS[7] policy
-- KEYS[8] polling
-- ARGV[1] receipt
-- ARGV[2] delayMs
-- ARGV[3] error
-- ARGV[4] defaultBackoffBaseMs
-- ARGV[5] defaultBackoffMaxMs
-- ARGV[6] jitter
-- ARGV[7] channel
-- returns: { 'retry', nextAttemptAt } | { 'dead', deadAt } | { 'invalid' } (times in ms)
-- delayMs -1 = backoff from the policy: min(max, base * 2^(attempts-1)), then "equal jitter" (half of it
-- fixed, half scaled by jitter in [0,1) from the caller). error '' = keep the last error.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local receipt = ARGV[1]
local id = string.match(receipt, '^([^.]+)%.')
if not id then return { 'invalid' } end
local raw = redis.call('HGET', KEYS[5], id)
if not raw then return { 'invalid' } end
local m = cjson.decode(raw)
if m.r == nil or m.r == '' or m.r ~= receipt then return { 'invalid' } end

m.r = ''
if ARGV[3] ~= '' then m.e = ARGV[3] end
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[1], id)
if m.a >= m.m then
  m.w = 'nacked on attempt ' .. m.a .. ' of ' .. m.m
  redis.call('HSET', KEYS[5], id, cjson.encode(m))
  redis.call('ZADD', KEYS[4], now, id)
  redis.call('HINCRBY', KEYS[6], 'dead', 1)
  return { 'dead', now }
end

local delay = tonumber(ARGV[2])
if delay < 0 then
  local pol = redis.call('HMGET', KEYS[7], 'backoffBaseMs', 'backoffMaxMs')
  local base = tonumber(pol[1]) or tonumber(ARGV[4])
  local cap = tonumber(pol[2]) or tonumber(ARGV[5])
  local full = math.min(cap, base * 2 ^ math.max(0, m.a - 1))
  delay = math.floor(full / 2 + tonumber(ARGV[6]) * full / 2)
end
redis.call('HSET', KEYS[5], id, cjson.encode(m))
if delay > 0 then
  redis.call('ZADD', KEYS[2], now + delay, id)
else
  redis.call('ZADD', KEYS[1], string.format('%.0f', m.s), id)
end
-- Published only while a long poll may be parked (KEYS[8], as enqueue.lua): it then takes the retry, or learns
-- of an earlier due time than the one its timer waits for.
if redis.call('EXISTS', KEYS[8]) == 1 then
  redis.call('PUBLISH', ARGV[7], 'nacked')
end
return { 'retry', now + delay }
