-- Release one hold of the lock: count - 1; at 0 delete it and publish the release if anyone waits
-- KEYS[1] lock
-- KEYS[2] waiting
-- ARGV[1] token
-- ARGV[2] channel
-- returns: {1, remaining} released (remaining > 0 after a re-entrant release); {0} not held (expired or
--          released); {-1} held by another token
local lockKey = KEYS[1]
local token, channel = ARGV[1], ARGV[2]

local held = redis.call('HGET', lockKey, 'token')
if not held then
  return {0}
end
if held ~= token then
  return {-1}
end
local remaining = redis.call('HINCRBY', lockKey, 'count', -1)
if remaining > 0 then
  return {1, remaining}
end
redis.call('DEL', lockKey)
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PUBLISH', channel, 'released')
end
return {1, 0}
