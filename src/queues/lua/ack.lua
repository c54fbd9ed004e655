-- Acknowledge messages by receipt: a message whose current receipt matches is deleted for good
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] inflight
-- KEYS[4] body
-- KEYS[5] meta
-- KEYS[6] stats
-- ARGV[1] receipts
-- returns: { 1 | 0 per receipt, in order } (0 = stale: redelivered since, nacked, dead, acked or unknown)
-- receipts = space-separated; a receipt is "<id>.<attempt>.<nonce>".
local out = {}
local acked = 0
for receipt in string.gmatch(ARGV[1], '%S+') do
  local ok = 0
  local id = string.match(receipt, '^([^.]+)%.')
  if id then
    local raw = redis.call('HGET', KEYS[5], id)
    if raw then
      local m = cjson.decode(raw)
      if m.r ~= nil and m.r ~= '' and m.r == receipt then
        redis.call('ZREM', KEYS[3], id)
        redis.call('ZREM', KEYS[1], id)
        redis.call('ZREM', KEYS[2], id)
        redis.call('HDEL', KEYS[4], id)
        redis.call('HDEL', KEYS[5], id)
        acked = acked + 1
        ok = 1
      end
    end
  end
  out[#out + 1] = ok
end
if acked > 0 then redis.call('HINCRBY', KEYS[6], 'acked', acked) end
return out
