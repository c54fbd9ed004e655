-- Extend the lock to ttlMs from now if the token holds it
-- KEYS[1] lock
-- ARGV[1] token
-- ARGV[2] ttlMs
-- returns: {1, fence, expiresAtMs} renewed; {0} not held (expired or released); {-1} held by another token
local lockKey = KEYS[1]
local token, ttl = ARGV[1], tonumber(ARGV[2])

local held = redis.call('HMGET', lockKey, 'token', 'fence')
if not held[1] then
  return {0}
end
if held[1] ~= token then
  return {-1}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('PEXPIRE', lockKey, ttl)
return {1, tonumber(held[2]), now + ttl}
