-- Replace a queue's policy (creating the queue when it was never used)
-- KEYS[1] policy
-- KEYS[2] stats
-- ARGV[1] fields
-- returns: 1 when this call created the queue, else 0
-- fields = JSON object of the policy's set fields (names → integers); absent fields fall back to defaults.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
for name, value in pairs(cjson.decode(ARGV[1])) do
  redis.call('HSET', KEYS[1], name, string.format('%.0f', value))
end
return redis.call('HSETNX', KEYS[2], 'createdAt', now)
