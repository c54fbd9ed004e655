-- Describe a queue: depths, age of the oldest ready message, totals and policy
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] inflight
-- KEYS[4] dead
-- KEYS[5] meta
-- KEYS[6] stats
-- KEYS[7] policy
-- returns: {} when the queue was never used, else
--          { now, ready, delayed, inflight, dead, oldestEnqueuedAt (-1 = none), stats (flat HGETALL), policy (flat HGETALL) }
-- The oldest ready message is the first of one of the ten priority bands: at most ten O(log n) lookups.
if redis.call('HEXISTS', KEYS[6], 'createdAt') == 0 then return {} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local BAND = 1099511627776
local oldest = -1
for band = 0, 9 do
  local first = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', band * BAND),
    '(' .. string.format('%.0f', (band + 1) * BAND), 'LIMIT', 0, 1)
  if first[1] then
    local raw = redis.call('HGET', KEYS[5], first[1])
    if raw then
      local at = cjson.decode(raw).t
      if oldest < 0 or at < oldest then oldest = at end
    end
  end
end
return {
  now,
  redis.call('ZCARD', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
  oldest,
  redis.call('HGETALL', KEYS[6]),
  redis.call('HGETALL', KEYS[7]),
}
