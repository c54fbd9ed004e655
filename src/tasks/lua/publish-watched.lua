-- Publish a task's state change only while an event stream watches the task
-- KEYS[1] watched
-- ARGV[1] channel
-- ARGV[2] message
-- returns: the number of subscribers reached, 0 when nobody watches (nothing published)
-- GET /v1/tasks/{id}/events keeps KEYS[1] alive while it streams. Every PUBLISH reaches every Baton instance's
-- subscriber, so state changes nobody streams would cost every instance a message for nothing.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return 0
