-- RedisRateLimiter (adaptive): count a start in the fleet's one-second window.
--
-- KEYS[1] the fleet's recent starts (a sorted set); ARGV[1] this start's id. Records a
-- start as it happens (adaptive only) -> {Redis time µs, the fleet's starts in the last
-- second, this one included, and in the second before it}: what the server's window
-- counts of the fleet, and what an acceleration limit grows from. Counting booked slots
-- instead would count starts still asleep or late, which the server has not seen yet,
-- and overestimate the budget from the usage header.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stamp = string.format('%.0f', now)
local second_ago = string.format('%.0f', now - 1000000)
local two_ago = string.format('%.0f', now - 2000000)
redis.call('ZADD', KEYS[1], stamp, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', two_ago)
redis.call('PEXPIRE', KEYS[1], 3000)
return {
    stamp,
    redis.call('ZCOUNT', KEYS[1], '(' .. second_ago, '+inf'),
    redis.call('ZCOUNT', KEYS[1], '(' .. two_ago, second_ago),
}
