-- The depths of one queue (for listings and the metrics scrape)
-- KEYS[1] ready
-- KEYS[2] delayed
-- KEYS[3] inflight
-- KEYS[4] dead
-- KEYS[5] stats
-- returns: { exists (0|1), ready, delayed, inflight, dead }
return {
  redis.call('HEXISTS', KEYS[5], 'createdAt'),
  redis.call('ZCARD', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('ZCARD', KEYS[4]),
}
