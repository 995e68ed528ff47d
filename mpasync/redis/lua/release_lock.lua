-- RedisTokenCache: free the fetch lock if it is still ours.
--
-- KEYS[1] lock; ARGV owner, channel. Compare-and-delete: never frees another owner's lock.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0
