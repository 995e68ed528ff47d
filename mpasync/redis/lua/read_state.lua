-- RedisRateLimiter (adaptive): read the shared state and Redis's clock.
--
-- KEYS[1] the adaptive state. -> {seconds, microseconds, state JSON or ''}.
local t = redis.call('TIME')
return {t[1], t[2], redis.call('GET', KEYS[1]) or ''}
