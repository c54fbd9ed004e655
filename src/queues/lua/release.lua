-- Give messages back untouched (their consumer went away before it received them): back to ready at
-- their position, attempts - 1, receipt spent
-- KEYS[1] ready
-- KEYS[2] inflight
-- KEYS[3] meta
-- KEYS[4] polling
-- ARGV[1] receipts
-- ARGV[2] channel
-- returns: the number of messages given back
local n = 0
for receipt in string.gmatch(ARGV[1], '%S+') do
  local id = string.match(receipt, '^([^.]+)%.')
  local raw = id and redis.call('HGET', KEYS[3], id)
  if raw then
    local m = cjson.decode(raw)
    if m.r == receipt then
      m.r = ''
      m.a = math.max(0, m.a - 1)
      redis.call('HSET', KEYS[3], id, cjson.encode(m))
      redis.call('ZREM', KEYS[2], id)
      redis.call('ZADD', KEYS[1], string.format('%.0f', m.s), id)
      n = n + 1
    end
  end
end
-- Published only while a long poll may be parked (KEYS[4], as enqueue.lua).
if n > 0 and redis.call('EXISTS', KEYS[4]) == 1 then redis.call('PUBLISH', ARGV[2], 'released') end
return n
