-- RedisTokenCache: drop the shared token if it is still the one we mean.
--
-- KEYS[1] token hash; ARGV field, value. Drops the shared token only if that field still
-- holds that value (its fingerprint after a 401, its sealed box when unreadable).
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('DEL', KEYS[1]) end
return 0
