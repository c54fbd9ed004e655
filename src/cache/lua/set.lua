-- Store a cache value (optionally only if absent / present) and invalidate any outstanding lease, so a slow
-- filler holding an older lease can no longer overwrite this newer value; waiters on the lease are woken.
-- KEYS[1] value
-- KEYS[2] lease
-- ARGV[1] packed
-- ARGV[2] ttlMs
-- ARGV[3] condition
-- ARGV[4] channel
-- returns: 1 stored, 0 the condition (NX / XX) failed and nothing was written
local packed = ARGV[1]
local ttlMs = tonumber(ARGV[2])
local condition = ARGV[3]
local channel = ARGV[4]

local stored
if ttlMs > 0 then
  if condition ~= '' then
    stored = redis.call('SET', KEYS[1], packed, 'PX', ttlMs, condition)
  else
    stored = redis.call('SET', KEYS[1], packed, 'PX', ttlMs)
  end
elseif condition ~= '' then
  stored = redis.call('SET', KEYS[1], packed, condition)
else
  stored = redis.call('SET', KEYS[1], packed)
end
if not stored then
  return 0
end
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('PUBLISH', channel, 'set')
end
return 1
