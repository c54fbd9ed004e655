-- Publish only while a marker key exists: a task's state change while an event stream watches the task (the
-- watched marker), or a claimable task while an HTTP claim of its type may be parked (the claiming marker).
-- Repeated: one group per message, so one call carries every message of an event-loop turn whose markers
-- share a hash tag (src/tasks/marked-publisher.ts).
-- KEYS[1] marker
-- ARGV[1] channel
-- ARGV[2] message
-- returns: the number of messages published (those whose marker exists)
-- GET /v1/tasks/{id}/events keeps the watched marker alive while it streams; a claim that found nothing and
-- will wait sets the claiming marker before its last look. Every PUBLISH reaches every Baton instance's
-- subscriber, so a message nobody waits for would cost every instance a read and a dispatch for nothing.
local published = 0
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('PUBLISH', ARGV[2 * i - 1], ARGV[2 * i])
    published = published + 1
  end
end
return published
