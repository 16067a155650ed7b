local index, own = KEYS[1], KEYS[2]
local node, ttl = ARGV[1], tonumber(ARGV[2])
if ARGV[3] == '1' then
  redis.call('DEL', own)
end
for i = 4, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', own, ARGV[i])
  else
    redis.call('HSET', own, ARGV[i], ARGV[i + 1])
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Nodes whose hashes have expired (they stopped rewriting them) leave
-- the index.
redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
if redis.call('EXISTS', own) == 1 then
  redis.call('PEXPIRE', own, ttl)
  redis.call('ZADD', index, now + ttl, node)
else
  redis.call('ZREM', index, node)
end
-- The index lives as long as its longest-lived node entry.
local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', index, string.format('%d', tonumber(last[2])))
end
return 1
