-- RedisTokenCache (mpasync/redis/token.py): read the shared token and Redis's clock.
--
-- KEYS[1] token hash. -> {sealed token, expiry (ms, Redis clock), PTTL, Redis now (ms)}
-- or nil. The expiry is bound to the sealed token (it is associated data), so a PEXPIRE
-- by anyone else cannot keep a token alive longer.
local v = redis.call('HMGET', KEYS[1], 'box', 'exp')
if not v[1] then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {v[1], v[2] or '', redis.call('PTTL', KEYS[1]), string.format('%.0f', now)}
