-- Report whether the lock is held, its remaining TTL and the current fence (never the token)
-- KEYS[1] lock
-- KEYS[2] fence
-- returns: {pttl, fence}: pttl -2 when free; fence 0 when the name was never acquired
local lockKey, fenceKey = KEYS[1], KEYS[2]
return {redis.call('PTTL', lockKey), tonumber(redis.call('GET', fenceKey) or '0')}
