local meta, log = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'h')
local epoch, head = fields[1], tonumber(fields[2])
if not epoch or not head or (head > 0 and redis.call('EXISTS', log) == 0) then
  -- No epoch, or its stream is gone: a new life, from offset 0, named
  -- by the caller's random prefix and the Redis time, so that no epoch
  -- is taken twice.
  local t = redis.call('TIME')
  epoch, head = ARGV[1] .. string.format('%x%05x', tonumber(t[1]), tonumber(t[2])), 0
  redis.call('DEL', log)
  redis.call('HSET', meta, 'e', epoch, 'h', 0)
end
