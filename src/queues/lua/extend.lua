-- Extend a message's visibility to now + visibilityMs (a heartbeat for long work)
-- KEYS[1] ready
-- KEYS[2] inflight
-- KEYS[3] meta
-- ARGV[1] receipt
-- ARGV[2] visibilityMs
-- returns: the new visibility deadline (ms), or -1 when the receipt is stale
-- A message whose visibility ran out but that nobody received since still answers to its receipt.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local receipt = ARGV[1]
local id = string.match(receipt, '^([^.]+)%.')
if not id then return -1 end
local raw = redis.call('HGET', KEYS[3], id)
if not raw then return -1 end
local m = cjson.decode(raw)
if m.r == nil or m.r == '' or m.r ~= receipt then return -1 end
local deadline = now + tonumber(ARGV[2])
redis.call('ZREM', KEYS[1], id)
redis.call('ZADD', KEYS[2], deadline, id)
return deadline
