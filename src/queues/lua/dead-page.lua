-- One page of dead letters, oldest death first
-- KEYS[1] dead
-- KEYS[2] body
-- KEYS[3] meta
-- ARGV[1] limit
-- ARGV[2] afterId
-- ARGV[3] afterScore
-- returns: { more (0|1), id, deadAt, meta JSON, body, ... }
-- The cursor is the last id of the previous page and its time of death ('' = from the start): resume
-- after that id when it is still dead, else at the first letter that died at or after that time.
local limit = tonumber(ARGV[1])
local start = 0
if ARGV[2] ~= '' then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[2])
  if rank then start = rank + 1 else start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[3]) end
end
local page = redis.call('ZRANGE', KEYS[1], start, start + limit, 'WITHSCORES')
local out = { 0 }
local n = 0
for i = 1, #page, 2 do
  if n == limit then
    out[1] = 1
    break
  end
  local id = page[i]
  out[#out + 1] = id
  out[#out + 1] = page[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or '{}'
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or 'null'
  n = n + 1
end
return out
