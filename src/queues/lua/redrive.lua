-- Move dead letters back to ready (all, in bounded batches, or the listed ids), attempts reset, each
-- behind the messages already waiting at its priority
-- KEYS[1] ready
-- KEYS[2] dead
-- KEYS[3] meta
-- KEYS[4] stats
-- KEYS[5] polling
-- ARGV[1] ids
-- ARGV[2] batch
-- ARGV[3] channel
-- returns: { moved, remaining dead letters }
-- ids = space-separated ids, '' = the oldest `batch` dead letters.
local BAND = 1099511627776
local ids
if ARGV[1] == '' then
  ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
else
  ids = {}
  for id in string.gmatch(ARGV[1], '%S+') do ids[#ids + 1] = id end
end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[2], id) == 1 then
    local raw = redis.call('HGET', KEYS[3], id)
    if raw then
      local m = cjson.decode(raw)
      local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
      m.s = (9 - m.p) * BAND + seq
      m.a = 0
      m.r = ''
      m.w = nil
      redis.call('HSET', KEYS[3], id, cjson.encode(m))
      redis.call('ZADD', KEYS[1], string.format('%.0f', m.s), id)
      moved = moved + 1
    end
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[4], 'redriven', moved)
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('PUBLISH', ARGV[3], 'redriven') -- only while a long poll may be parked, as enqueue.lua
  end
end
return { moved, redis.call('ZCARD', KEYS[2]) }
