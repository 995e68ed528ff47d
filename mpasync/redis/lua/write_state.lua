-- RedisRateLimiter (adaptive): write the shared state by compare-and-set.
--
-- KEYS[1] the adaptive state; ARGV the value read ('' = none), new JSON, TTL (s).
-- Compare-and-set on the whole value, so a state only Python finds unreadable (a NaN, a
-- string rate) is replaced like any other, and the version in it just counts updates.
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
