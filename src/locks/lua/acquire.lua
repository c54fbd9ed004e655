-- Take the lock if it is free (fresh token, PX ttl, next fence), re-enter it when the same owner holds it, else report the holder's remaining TTL
-- KEYS[1] lock
-- KEYS[2] fence
-- KEYS[3] waiting
-- ARGV[1] token
-- ARGV[2] ttlMs
-- ARGV[3] owner
-- ARGV[4] mode
-- ARGV[5] waitMs
-- returns: {1, token, fence, count, expiresAtMs} acquired; {2, token, fence, count, expiresAtMs} re-entered;
--          {0, pttl} held by another (or, in mode "reenter", free: {0, -2}: the caller may not take it now)
-- The lock is a hash {token, owner, count, fence} with a PEXPIRE; the fence counter never expires, so it keeps
-- growing across expiries and (with AOF) restarts. mode "take" takes a free lock; mode "reenter" only re-enters.
-- A caller that fails and will wait (waitMs > 0) marks the name as waited on for waitMs, so that release.lua
-- publishes; without waiters a release publishes nothing (a PUBLISH wakes every Baton instance's subscriber).
local lockKey, fenceKey = KEYS[1], KEYS[2]
local token, ttl, owner, mode = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local function markWaiting()
  local waitMs = tonumber(ARGV[5])
  if waitMs > 0 and redis.call('PTTL', KEYS[3]) < waitMs then
    redis.call('SET', KEYS[3], '1', 'PX', waitMs)
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local held = redis.call('HMGET', lockKey, 'token', 'owner', 'count', 'fence')
if held[1] then
  if owner ~= '' and held[2] == owner then
    local count = redis.call('HINCRBY', lockKey, 'count', 1)
    redis.call('PEXPIRE', lockKey, ttl)
    return {2, held[1], tonumber(held[4]), count, now + ttl}
  end
  markWaiting()
  return {0, redis.call('PTTL', lockKey)}
end
if mode ~= 'take' then
  markWaiting()
  return {0, -2}
end
local fence = redis.call('INCR', fenceKey)
redis.call('HSET', lockKey, 'token', token, 'owner', owner, 'count', 1, 'fence', fence)
redis.call('PEXPIRE', lockKey, ttl)
return {1, token, fence, 1, now + ttl}
