local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local maxLen, maxAge = tonumber(ARGV[7]), tonumber(ARGV[8])
local offset = head + 1
local id = string.format('%d-%d', offset, now)
if maxLen > 0 and offset > maxLen then
  redis.call('XADD', log, 'MINID', string.format('%d', offset - maxLen + 1), id, 't', ARGV[9], 'x', ARGV[10], 'd', ARGV[11])
else
  redis.call('XADD', log, id, 't', ARGV[9], 'x', ARGV[10], 'd', ARGV[11])
end
redis.call('HSET', meta, 'h', offset)

-- The age bound is kept lazily: once the oldest entry is an eighth of
-- maxAge past it, every entry older than maxAge goes, found by a binary
-- search over offsets (times grow with them).
if maxAge > 0 then
  local function parts(entryID)
    local dash = string.find(entryID, '-', 1, true)
    return tonumber(string.sub(entryID, 1, dash - 1)), tonumber(string.sub(entryID, dash + 1))
  end
  local first = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  local lo, ms = parts(first[1])
  if ms < now - maxAge - math.floor(maxAge / 8) then
    local hi = offset -- stored now: never too old
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      local o, t = parts(redis.call('XRANGE', log, string.format('%d', mid), '+', 'COUNT', 1)[1][1])
      if t >= now - maxAge then hi = o else lo = o + 1 end
    end
    redis.call('XTRIM', log, 'MINID', string.format('%d', lo))
  end
end

-- The partition's topic index (KEYS[3] and KEYS[4], when given; see
-- index.lua).
local indexed = false
if KEYS[4] then
  indexed = indexMessage(KEYS[3], KEYS[4], meta, epoch, offset, maxLen, ARGV[9])
end
-- The stream was created at offset 1, the index when its chain started:
-- without an expiry yet.
keepAlive(tonumber(ARGV[12]), fresh or offset == 1 or indexed)

local topic, kind = ARGV[9], ARGV[10]
local payload = epoch .. ' ' .. string.format('%d %d', offset, now) .. ' ' .. #topic .. ' ' .. #kind .. '\n' .. topic .. kind .. ARGV[11]
if ARGV[6] == '1' then
  redis.call('SPUBLISH', ARGV[5], payload)
else
  redis.call('PUBLISH', ARGV[5], payload)
end
return {epoch, string.format('%d', offset)}
