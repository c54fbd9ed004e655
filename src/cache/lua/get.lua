-- Read a cache value and its remaining TTL in one round trip.
-- KEYS[1] value
-- returns: nil on a miss, else { packed value, PTTL in ms (-1 = no expiry) }
local value = redis.call('GET', KEYS[1])
if not value then
  return nil
end
return { value, redis.call('PTTL', KEYS[1]) }
