-- Dequeue up to max messages: promote due delayed messages, return expired in-flight ones to ready (or to
-- dead once their attempts are spent), pop the highest-priority oldest ones, stamp a fresh receipt and
-- attempts + 1 on each and move them in flight until now + visibility
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] inflight
-- KEYS[4] dead
-- KEYS[5] body
-- KEYS[6] meta
-- KEYS[7] stats
-- KEYS[8] policy
-- KEYS[9] polling
-- ARGV[1] max
-- ARGV[2] visibilityMs
-- ARGV[3] defaultVisibilityMs
-- ARGV[4] maxVisibilityMs
-- ARGV[5] nonce
-- ARGV[6] waitMs
-- returns: { now, nextAt, expired, expiredDead, dropped, id, receipt, body, attempts, priority, enqueuedAt, ... }
--   now = server time (ms); nextAt = earliest delayed due time or in-flight deadline (ms), -1 when none;
--   expired = in-flight messages whose visibility ran out and went back to ready; expiredDead = those that
--   went to dead instead (attempts spent); dropped = messages discarded by the policy's retentionMs;
--   then six fields per delivered message. ARGV[2] 0 = the policy's (or the default) visibility.
-- A caller that found nothing and will wait (waitMs > 0) sets KEYS[9] for waitMs, so enqueues publish.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local BATCH = 1000 -- bound on the maintenance work of one call; the rest waits for the next call

local pol = redis.call('HMGET', KEYS[8], 'visibilityMs', 'retentionMs')
local vis = tonumber(ARGV[2])
if vis <= 0 then vis = tonumber(pol[1]) or tonumber(ARGV[3]) end
vis = math.min(vis, tonumber(ARGV[4]))
local retention = tonumber(pol[2])

local function fmt(n) return string.format('%.0f', n) end

-- 1. delayed messages that are due → ready, at their original priority/sequence position
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, BATCH)
if #due > 0 then
  local metas = redis.call('HMGET', KEYS[6], unpack(due))
  local readyArgs = {}
  for i, id in ipairs(due) do
    if metas[i] then
      readyArgs[#readyArgs + 1] = fmt(cjson.decode(metas[i]).s)
      readyArgs[#readyArgs + 1] = id
    end
  end
  if #readyArgs > 0 then redis.call('ZADD', KEYS[1], unpack(readyArgs)) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #due - 1)
end

-- 2. in-flight messages past their visibility deadline → ready, or dead when attempts are spent
local expired, expiredDead = 0, 0
local late = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, BATCH)
if #late > 0 then
  local metas = redis.call('HMGET', KEYS[6], unpack(late))
  local readyArgs, deadArgs, metaArgs = {}, {}, {}
  for i, id in ipairs(late) do
    if metas[i] then
      local m = cjson.decode(metas[i])
      if m.a >= m.m then
        m.r = ''
        m.w = 'visibility timeout expired on attempt ' .. m.a .. ' of ' .. m.m
        metaArgs[#metaArgs + 1] = id
        metaArgs[#metaArgs + 1] = cjson.encode(m)
        deadArgs[#deadArgs + 1] = now
        deadArgs[#deadArgs + 1] = id
        expiredDead = expiredDead + 1
      else
        -- the receipt stays valid until the next delivery: a late ack from the same consumer still counts
        readyArgs[#readyArgs + 1] = fmt(m.s)
        readyArgs[#readyArgs + 1] = id
        expired = expired + 1
      end
    end
  end
  if #metaArgs > 0 then
    redis.call('HSET', KEYS[6], unpack(metaArgs))
    redis.call('ZADD', KEYS[4], unpack(deadArgs))
  end
  if #readyArgs > 0 then redis.call('ZADD', KEYS[1], unpack(readyArgs)) end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, #late - 1)
end
if expiredDead > 0 then redis.call('HINCRBY', KEYS[7], 'dead', expiredDead) end

-- 3. retention: dead letters older than retentionMs are forgotten (bounded per call)
if retention then
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - retention, 'LIMIT', 0, 100)
  if #old > 0 then
    redis.call('HDEL', KEYS[5], unpack(old))
    redis.call('HDEL', KEYS[6], unpack(old))
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, #old - 1)
  end
end

-- 4. pop up to max, highest priority first, FIFO within a priority; one call per key for the whole batch
local out = { now, -1, expired, expiredDead, 0 }
local max = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', KEYS[1], 0, max - 1)
local dropped = 0
if #ids > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
  local deadline = fmt(now + vis) -- formatted once: a number argument is formatted again for every message
  local metas = redis.call('HMGET', KEYS[6], unpack(ids))
  local bodies = redis.call('HMGET', KEYS[5], unpack(ids))
  local metaArgs, flightArgs, gone = {}, {}, {}
  for i, id in ipairs(ids) do
    local raw = metas[i]
    if raw then
      local m = cjson.decode(raw)
      if retention and m.t + retention <= now then
        gone[#gone + 1] = id
      else
        m.a = m.a + 1
        m.r = id .. '.' .. m.a .. '.' .. ARGV[5]
        metaArgs[#metaArgs + 1] = id
        metaArgs[#metaArgs + 1] = cjson.encode(m)
        flightArgs[#flightArgs + 1] = deadline
        flightArgs[#flightArgs + 1] = id
        local n = #out
        out[n + 1] = id
        out[n + 2] = m.r
        out[n + 3] = bodies[i]
        out[n + 4] = m.a
        out[n + 5] = m.p
        out[n + 6] = m.t
      end
    end
  end
  if #gone > 0 then
    redis.call('HDEL', KEYS[5], unpack(gone))
    redis.call('HDEL', KEYS[6], unpack(gone))
    dropped = #gone
  end
  if #metaArgs > 0 then
    redis.call('HSET', KEYS[6], unpack(metaArgs))
    redis.call('ZADD', KEYS[3], unpack(flightArgs))
  end
end
out[5] = dropped

-- 5. when to look again: the earliest delayed due time or in-flight deadline
if #out == 5 then
  local d = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local f = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  local nextAt = -1
  if d[2] then nextAt = tonumber(d[2]) end
  if f[2] and (nextAt < 0 or tonumber(f[2]) < nextAt) then nextAt = tonumber(f[2]) end
  out[2] = nextAt
  local waitMs = tonumber(ARGV[6])
  if waitMs > 0 and redis.call('PTTL', KEYS[9]) < waitMs then
    redis.call('SET', KEYS[9], '1', 'PX', waitMs)
  end
end
return out
