-- Give a permit back and publish the release if anyone waits (expired holders are pruned first)
-- KEYS[1] holders
-- KEYS[2] limit
-- KEYS[3] waiting
-- ARGV[1] token
-- ARGV[2] channel
-- returns: {1, holdersLeft} released; {0} the token holds no permit (expired, released or unknown)
local holdersKey, limitKey = KEYS[1], KEYS[2]
local token, channel = ARGV[1], ARGV[2]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', holdersKey, '-inf', now)
if redis.call('ZREM', holdersKey, token) == 0 then
  return {0}
end
local left = redis.call('ZCARD', holdersKey)
if left == 0 then
  redis.call('DEL', limitKey)
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('PUBLISH', channel, 'released')
end
return {1, left}
