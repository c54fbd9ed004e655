-- Count the unexpired holders of the semaphore and report the limit in force (expired holders are pruned)
-- KEYS[1] holders
-- KEYS[2] limit
-- returns: {holders, limit}: limit 0 when the semaphore is empty (no limit in force)
local holdersKey, limitKey = KEYS[1], KEYS[2]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', holdersKey, '-inf', now)
local n = redis.call('ZCARD', holdersKey)
if n == 0 then
  return {0, 0}
end
return {n, tonumber(redis.call('GET', limitKey) or '0')}
