-- Extend one permit to ttlMs from now if the token still holds it (expired holders are pruned first)
-- KEYS[1] holders
-- KEYS[2] limit
-- ARGV[1] token
-- ARGV[2] ttlMs
-- returns: {1, expiresAtMs} renewed; {0} the token holds no permit (expired, released or unknown)
local holdersKey, limitKey = KEYS[1], KEYS[2]
local token, ttl = ARGV[1], tonumber(ARGV[2])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', holdersKey, '-inf', now)
if not redis.call('ZSCORE', holdersKey, token) then
  return {0}
end
local expiresAt = now + ttl
redis.call('ZADD', holdersKey, 'XX', expiresAt, token)
local last = tonumber(redis.call('ZRANGE', holdersKey, -1, -1, 'WITHSCORES')[2])
redis.call('PEXPIREAT', holdersKey, last)
redis.call('PEXPIREAT', limitKey, last)
return {1, expiresAt}
