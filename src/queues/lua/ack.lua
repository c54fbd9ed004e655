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
-- One HMGET for every receipt's record and one call per key for the deletes (a call from Lua costs about as
-- much as the work of one message).
-- A malformed receipt looks up the field '' (never a message id), so the records line up with the receipts.
local receipts, ids = {}, {}
for receipt in string.gmatch(ARGV[1], '%S+') do
  receipts[#receipts + 1] = receipt
  ids[#ids + 1] = string.match(receipt, '^([^.]+)%.') or ''
end
local metas = {}
if #ids > 0 then metas = redis.call('HMGET', KEYS[5], unpack(ids)) end
local out = {}
local done = {} -- id -> true once acked by this call: a repeated receipt is stale by then
local gone = {}
for i, receipt in ipairs(receipts) do
  local id, raw = ids[i], metas[i]
  out[i] = 0
  if raw and not done[id] then
    local m = cjson.decode(raw)
    if m.r ~= nil and m.r ~= '' and m.r == receipt then
      done[id] = true
      gone[#gone + 1] = id
      out[i] = 1
    end
  end
end
if #gone > 0 then
  -- A message whose receipt is current is in flight, or back in ready after its visibility ran out (nack,
  -- release, redrive and death spend the receipt); so ready and delayed are looked at only when some were
  -- not in flight.
  if redis.call('ZREM', KEYS[3], unpack(gone)) < #gone then
    redis.call('ZREM', KEYS[1], unpack(gone))
    redis.call('ZREM', KEYS[2], unpack(gone))
  end
  redis.call('HDEL', KEYS[4], unpack(gone))
  redis.call('HDEL', KEYS[5], unpack(gone))
  redis.call('HINCRBY', KEYS[6], 'acked', #gone)
end
return out
