-- RedisTokenCache: store a fetched token, free the lock, wake the waiters.
--
-- KEYS[1] token hash, KEYS[2] lock; ARGV sealed token, expiry (ms, Redis clock), the
-- token's keyed fingerprint, ttl ms, lock owner, channel. Stores the token, releases the
-- lock if still ours, and wakes the waiters, atomically.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'box', ARGV[1], 'exp', ARGV[2], 'id', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[5] then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[6], 'ready')
return 1
