-- Start an attempt of a built-in handler: refuse it when the task was revoked, else tell its event streams
-- KEYS[1] revoked
-- KEYS[2] watched
-- ARGV[1] channel
-- ARGV[2] message
-- returns: 1 when the task was revoked (nothing published), else 0
-- One round trip for the two checks every in-process attempt makes: per task, each Redis command is a visible
-- share of Node's CPU (the drain of echo tasks ran 1.15x faster with this one command fewer). The revocation
-- flag is read after the handler listens on the task's channel, so a revoke is seen either here or as a
-- message. Publishing only while a stream watches: see publish-marked.lua.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 1
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return 0
