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
local dedupOn = window > 0

-- Pass 1: which messages are new (a repeated dedupId, earlier in this batch or within the window, is not).
local fresh = {} -- index in specs of each message to store, in input order
local texts = {}
local seen = {} -- dedupId -> id of its message in this batch
local offset = 1
for i, s in ipairs(specs) do
  local len, dedupId = s[6], s[5]
  texts[i] = string.sub(bodies, offset, offset + len - 1)
  offset = offset + len
  local first = false
  if dedupId ~= '' and dedupOn then
    first = seen[dedupId] or false
    if not first then
      local until_ = redis.call('ZSCORE', KEYS[8], dedupId)
      if until_ and tonumber(until_) > now then first = redis.call('HGET', KEYS[7], dedupId) end
    end
  end
  if first then
    out[#out + 1] = first
  else
    fresh[#fresh + 1] = i
    out[#out + 1] = s[1]
    if dedupId ~= '' and dedupOn then seen[dedupId] = s[1] end
  end
end

-- Pass 2: store the new ones with one call per key (a call from Lua costs about as much as the work of
-- one message, so a batch of ten makes 6 calls here instead of 40).
local enqueued = #fresh
if enqueued > 0 then
  local seq = redis.call('HINCRBY', KEYS[5], 'seq', enqueued) - enqueued
  local bodyArgs, metaArgs, readyArgs, delayedArgs, dedupArgs, dedupExpArgs = {}, {}, {}, {}, {}, {}
  for _, i in ipairs(fresh) do
    local s = specs[i]
    local id, priority, delay, maxAttempts, dedupId = s[1], s[2], s[3], s[4], s[5]
    seq = seq + 1
    local score = string.format('%.0f', (9 - priority) * BAND + seq)
    if maxAttempts == 0 then maxAttempts = policyMaxAttempts end
    bodyArgs[#bodyArgs + 1] = id
    bodyArgs[#bodyArgs + 1] = texts[i]
    metaArgs[#metaArgs + 1] = id
    metaArgs[#metaArgs + 1] = '{"p":' .. priority .. ',"s":' .. score .. ',"a":0,"m":' .. maxAttempts .. ',"t":' .. now .. '}'
    if delay > 0 then
      delayedArgs[#delayedArgs + 1] = now + delay
      delayedArgs[#delayedArgs + 1] = id
    else
      readyArgs[#readyArgs + 1] = score
      readyArgs[#readyArgs + 1] = id
    end
    if dedupId ~= '' and dedupOn then
      dedupArgs[#dedupArgs + 1] = dedupId
      dedupArgs[#dedupArgs + 1] = id
      dedupExpArgs[#dedupExpArgs + 1] = now + window
      dedupExpArgs[#dedupExpArgs + 1] = dedupId
    end
  end
  redis.call('HSET', KEYS[3], unpack(bodyArgs))
  redis.call('HSET', KEYS[4], unpack(metaArgs))
  if #readyArgs > 0 then redis.call('ZADD', KEYS[1], unpack(readyArgs)) end
  if #delayedArgs > 0 then redis.call('ZADD', KEYS[2], unpack(delayedArgs)) end
  if #dedupArgs > 0 then
    redis.call('HSET', KEYS[7], unpack(dedupArgs))
    redis.call('ZADD', KEYS[8], unpack(dedupExpArgs))
  end
  redis.call('HINCRBY', KEYS[5], 'enqueued', enqueued)
  if redis.call('EXISTS', KEYS[9]) == 1 then
    redis.call('PUBLISH', ARGV[5], 'enqueued')
  end
end
out[2] = enqueued
return out
