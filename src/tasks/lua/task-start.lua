-- Start an attempt of a built-in handler when what its process heard of revokes may be incomplete
-- (src/tasks/revoke-watch.ts: just subscribed, subscriber down, Cluster): refuse it when the task was revoked,
-- else tell its event streams. Attempts that can trust what was heard skip this round trip.
-- KEYS[1] revoked
-- KEYS[2] watched
-- ARGV[1] channel
-- ARGV[2] message
-- returns: 1 when the task was revoked (nothing published), else 0
-- One round trip for the two checks. The revocation flag is read after the attempt is watched, so a revoke is
-- seen either here or as a message. Publishing only while a stream watches: see publish-marked.lua.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return 0
