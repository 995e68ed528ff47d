-- RedisTokenCache: take the fetch lock (SET NX PX with an owner).
--
-- KEYS[1] lock; ARGV owner, TTL ms. -> {1 if we took the lock else 0, Redis now (ms)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local took = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then took = 1 end
return {took, string.format('%.0f', now)}
