-- Enqueue a batch of messages (one or up to 100) atomically: dedup window, delay, priority band + sequence
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] body
-- KEYS[4] meta
-- KEYS[5] stats
-- KEYS[6] policy
-- KEYS[7] dedup
-- KEYS[8] dedupExp
-- KEYS[9] polling
-- ARGV[1] defaultMaxAttempts
-- ARGV[2] defaultDedupWindowMs
-- ARGV[3] specs
-- ARGV[4] bodies
-- ARGV[5] channel
-- returns: { created (1 when this call created the queue), enqueued, id1, id2, ... } in input order; a
--          message whose dedupId was seen within the window gets the first message's id and is not stored.
-- specs = JSON [[id, priority, delayMs, maxAttempts (0 = policy/default), dedupId ('' = none), bodyBytes], ...];
-- bodies = the bodies' JSON texts concatenated, each bodyBytes long.
-- The enqueue is published only while a long poll may be parked (KEYS[9], set by dequeue.lua): a PUBLISH
-- wakes every Baton instance's subscriber, which costs each of them a message for nothing when nobody waits.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local BAND = 1099511627776 -- 2^40: sequence numbers stay below it, so priority bands never overlap

local pol = redis.call('HMGET', KEYS[6], 'maxAttempts', 'dedupWindowMs')
local policyMaxAttempts = tonumber(pol[1]) or tonumber(ARGV[1])
local window = tonumber(pol[2]) or tonumber(ARGV[2])
local specs = cjson.decode(ARGV[3])
local bodies = ARGV[4]

-- Forget dedup ids whose window has passed; bounded per call, and every call adds at most #specs.
local gone = redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', now, 'LIMIT', 0, #specs + 16)
if #gone > 0 then
  redis.call('HDEL', KEYS[7], unpack(gone))
  redis.call('ZREM', KEYS[8], unpack(gone))
end

local created = redis.call('HSETNX', KEYS[5], 'createdAt', now)
local out = { created, 0 }
local enqueued = 0
local offset = 1
for _, s in ipairs(specs) do
  local id, priority, delay, maxAttempts, dedupId, len = s[1], s[2], s[3], s[4], s[5], s[6]
  local text = string.sub(bodies, offset, offset + len - 1)
  offset = offset + len
  local first = false
  if dedupId ~= '' and window > 0 then
    local until_ = redis.call('ZSCORE', KEYS[8], dedupId)
    if until_ and tonumber(until_) > now then first = redis.call('HGET', KEYS[7], dedupId) end
  end
  if first then
    out[#out + 1] = first
  else
    local seq = redis.call('HINCRBY', KEYS[5], 'seq', 1)
    local score = (9 - priority) * BAND + seq
    if maxAttempts == 0 then maxAttempts = policyMaxAttempts end
    redis.call('HSET', KEYS[3], id, text)
    redis.call('HSET', KEYS[4], id, cjson.encode({ p = priority, s = score, a = 0, m = maxAttempts, t = now }))
    if delay > 0 then
      redis.call('ZADD', KEYS[2], now + delay, id)
    else
      redis.call('ZADD', KEYS[1], string.format('%.0f', score), id)
    end
    if dedupId ~= '' and window > 0 then
      redis.call('HSET', KEYS[7], dedupId, id)
      redis.call('ZADD', KEYS[8], now + window, dedupId)
    end
    enqueued = enqueued + 1
    out[#out + 1] = id
  end
end
if enqueued > 0 then
  redis.call('HINCRBY', KEYS[5], 'enqueued', enqueued)
  if redis.call('EXISTS', KEYS[9]) == 1 then
    redis.call('PUBLISH', ARGV[5], 'enqueued')
  end
end
out[2] = enqueued
return out
