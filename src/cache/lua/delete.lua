-- Delete a cache value and its lease (a slow filler's PUT is then refused); wake lease waiters, if any.
-- KEYS[1] value
-- KEYS[2] lease
-- ARGV[1] channel
-- returns: number of values removed (0 or 1)
local channel = ARGV[1]

local removed = redis.call('UNLINK', KEYS[1])
if redis.call('DEL', KEYS[2]) == 1 then
  redis.call('PUBLISH', channel, 'delete')
end
return removed
