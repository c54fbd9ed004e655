-- Delete the oldest `batch` dead letters for good
-- KEYS[1] dead
-- KEYS[2] body
-- KEYS[3] meta
-- ARGV[1] batch
-- returns: { purged, remaining dead letters }
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids > 0 then
  redis.call('HDEL', KEYS[2], unpack(ids))
  redis.call('HDEL', KEYS[3], unpack(ids))
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #ids - 1)
end
return { #ids, redis.call('ZCARD', KEYS[1]) }
