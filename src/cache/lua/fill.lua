-- Fill a key under its lease: only if the lease token is still the current one (not deleted, not expired,
-- not re-leased). Stores the value, drops the lease and wakes the waiters.
-- KEYS[1] value
-- KEYS[2] lease
-- ARGV[1] token
-- ARGV[2] packed
-- ARGV[3] ttlMs
-- ARGV[4] channel
-- returns: 1 filled, 0 the lease is no longer valid and nothing was written
local token = ARGV[1]
local packed = ARGV[2]
local ttlMs = tonumber(ARGV[3])
local channel = ARGV[4]

if redis.call('GET', KEYS[2]) ~= token then
  return 0
end
if ttlMs > 0 then
  redis.call('SET', KEYS[1], packed, 'PX', ttlMs)
else
  redis.call('SET', KEYS[1], packed)
end
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', channel, 'fill')
return 1
