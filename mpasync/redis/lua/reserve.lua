-- RedisRateLimiter (mpasync/redis/budget.py): book the next slot of the fleet's budget.
--
-- KEYS[1] the GCRA's theoretical arrival time (µs, Redis clock), KEYS[2] the adaptive
-- state (JSON, may be absent), KEYS[3] the fleet's booked slots (a sorted set, adaptive
-- only). ARGV[1] interval (µs) without a state, ARGV[2] 1 + safety, ARGV[3] this
-- booking's id, ARGV[4] the fill speed, ARGV[5..7] the horizon (below). Reserves the
-- caller's slot at the fleet's current rate; returns {wait µs, the rate ('' = no state),
-- 1 if damaged bookings were reset, the slot (µs, Redis clock)}.
-- With an adaptive state the window rule of mpasync.limits.AdjustableRateLimiter holds for the
-- whole fleet: a slot is booked only where fewer than floor(rate) slots (at least one,
-- even below 2/s: a drop from 10/s to 0.5/s must not book its next slot at the old
-- spacing next to ten others) were booked in the (1 + safety) s before it, and every slot
-- is recorded, whatever the rate. Once usage readings steer the rate ('read'), slots may be
-- booked ARGV[4] times as close, so a rise is filled within about half a second. Booked
-- slots never go back in time (each one is at or after the last), so counting the
-- bookings after (slot - span) counts the window exactly; a slot given up (its owner
-- woke late) is removed by its owner (RedisRateLimiter.acquire), as nobody started in it.
-- A slot further ahead than ARGV[5] intervals (the most callers a fleet queues) plus
-- ARGV[6] µs, or ARGV[7] µs at most, no rate can explain: the TAT or the booked slots are
-- damaged or were set before Redis's clock stepped back. They are reset (the third
-- value returned is then 1) rather than park every call.
local function fmt(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local rate = ''
local cap = 0
local raw = redis.call('GET', KEYS[2])
local ok, stored = false, nil
if raw then ok, stored = pcall(cjson.decode, raw) end
if ok and type(stored) == 'table' and type(stored['state']) == 'table' then
  local r = tonumber(stored['state']['rate'])
  if r and r > 0 and r < math.huge then
    local fill = 1
    cap = math.max(1, math.floor(r))
    if r >= 2 and stored['read'] == true then fill = tonumber(ARGV[4]) end
    interval = 1000000 * tonumber(ARGV[2]) / (r * fill)
    rate = string.format('%.6f', r)
  end
end
local horizon = math.min(tonumber(ARGV[5]) * interval + tonumber(ARGV[6]), tonumber(ARGV[7]))
local repaired = 0
local raw_tat = redis.call('GET', KEYS[1])
local tat = tonumber(raw_tat)
if raw_tat and not (tat and tat == tat and tat <= now + horizon) then
  tat = nil
  repaired = 1
  redis.call('DEL', KEYS[3])
end
local start = now
if tat and tat > now then start = tat end
if cap > 0 then
  local span = 1000000 * tonumber(ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now - span))
  local n = redis.call('ZCOUNT', KEYS[3], '(' .. fmt(start - span), '+inf')
  if n >= cap then
    local kth = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. fmt(start - span), '+inf',
      'WITHSCORES', 'LIMIT', n - cap, 1)
    local free = tonumber(kth[2]) + span
    if free > start then start = free end
  end
  if not (start <= now + horizon) then
    redis.call('DEL', KEYS[3])
    start = now
    repaired = 1
  end
  redis.call('ZADD', KEYS[3], fmt(start), ARGV[3])
  redis.call('PEXPIRE', KEYS[3], math.ceil((start - now + span) / 1000) + 1000)
end
local nxt = start + interval
redis.call('SET', KEYS[1], fmt(nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {fmt(start - now), rate, repaired, fmt(start)}
