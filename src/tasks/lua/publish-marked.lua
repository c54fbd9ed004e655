-- Publish only while a marker key exists: a task's state change while an event stream watches the task (the
-- watched marker), or a claimable task while an HTTP claim of its type may be parked (the claiming marker)
-- KEYS[1] marker
-- ARGV[1] channel
-- ARGV[2] message
-- returns: the number of subscribers reached, 0 without the marker (nothing published)
-- GET /v1/tasks/{id}/events keeps the watched marker alive while it streams; a claim that found nothing and
-- will wait sets the claiming marker before its last look. Every PUBLISH reaches every Baton instance's
-- subscriber, so a message nobody waits for would cost every instance a read and a dispatch for nothing.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return 0
