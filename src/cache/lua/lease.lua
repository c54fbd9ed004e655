-- Read a cache value; on a miss take the key's lease if nobody holds it (memcache leases).
-- KEYS[1] value
-- KEYS[2] lease
-- ARGV[1] token
-- ARGV[2] leaseTtlMs
-- returns: { 1, packed value }                     hit (the expiry is inside the packed value)
--          { 2 }                                   miss, the lease is now ours (token ARGV[1])
--          { 3, '', PTTL of the lease }            miss, someone else holds the lease
local token = ARGV[1]
local leaseTtlMs = ARGV[2]

local value = redis.call('GET', KEYS[1])
if value then
  return { 1, value }
end
if redis.call('SET', KEYS[2], token, 'PX', leaseTtlMs, 'NX') then
  return { 2 }
end
return { 3, '', redis.call('PTTL', KEYS[2]) }
