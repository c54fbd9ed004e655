-- Take a permit of the semaphore when fewer than limit unexpired holders have one (or only report, in mode "peek")
-- KEYS[1] holders
-- KEYS[2] limit
-- KEYS[3] waiting
-- ARGV[1] token
-- ARGV[2] limit
-- ARGV[3] ttlMs
-- ARGV[4] mode
-- ARGV[5] waitMs
-- returns: {1, expiresAtMs} acquired; {0, msUntilEarliestExpiry, holders, limitInForce} full (or, in mode
--          "peek", {0, -2, holders, limit} when a permit is free); {-1, limitInForce, holders} limit mismatch
-- holders is a sorted set token -> expiry (ms, Redis server time); expired holders are pruned first. The limit
-- in force is kept beside it and may only change while the semaphore is empty. Both keys expire with the
-- last holder. A caller that is refused and will wait (waitMs > 0) marks the semaphore as waited on for waitMs,
-- so that sem-release.lua publishes (only then).
local holdersKey, limitKey = KEYS[1], KEYS[2]
local token, limit, ttl, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]

local function markWaiting()
  local waitMs = tonumber(ARGV[5])
  if waitMs > 0 and redis.call('PTTL', KEYS[3]) < waitMs then
    redis.call('SET', KEYS[3], '1', 'PX', waitMs)
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', holdersKey, '-inf', now)

local n = redis.call('ZCARD', holdersKey)
local current = tonumber(redis.call('GET', limitKey))
if n > 0 and current and current ~= limit then
  return {-1, current, n}
end
if n >= limit then
  local earliest = redis.call('ZRANGE', holdersKey, 0, 0, 'WITHSCORES')
  markWaiting()
  return {0, tonumber(earliest[2]) - now, n, limit}
end
if mode ~= 'take' then
  markWaiting()
  return {0, -2, n, limit}
end
local expiresAt = now + ttl
redis.call('ZADD', holdersKey, expiresAt, token)
local last = tonumber(redis.call('ZRANGE', holdersKey, -1, -1, 'WITHSCORES')[2])
redis.call('SET', limitKey, limit, 'PXAT', last)
redis.call('PEXPIREAT', holdersKey, last)
return {1, expiresAt}
