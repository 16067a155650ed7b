local maxLen, maxAge = tonumber(ARGV[7]), tonumber(ARGV[8])
local offset = head + 1
local id = string.format('%d-%d', offset, now)
local topic, kind, data = ARGV[9], ARGV[10], ARGV[11]
-- The partition's topic index (see index.lua): the previous message of
-- the topic, which the entry names (field p, always there, so that every
-- entry has the same fields: a stream node stores their names once).
local prev
prev, since, restarted = indexPrevious(epoch)
-- The length bound is kept approximately ('~'): Redis drops only whole
-- nodes of the stream (stream-node-max-entries, 100 by default), never
-- marks single entries deleted, so the stream keeps maxLen entries and
-- at most a node more, and neither this trim nor a read of the oldest
-- entry (the age trim's) walks deleted entries: with the exact trim,
-- the two cost about a quarter of the script, 11 to 13 µs of Redis CPU
-- per publish (TestPublishCost, 10,000 topics).
--
-- The first message creates the stream; every later one is added with
-- NOMKSTREAM, which does not create it: where the head says there were
-- messages and the stream is gone (evicted alone), XADD returns nil, and
-- the message starts a new epoch instead, from offset 1, as ensure
-- would have (it no longer asks whether the stream exists: a call less
-- per publish).
local stored = true
if offset == 1 then
  redis.call('XADD', log, id, 't', topic, 'x', kind, 'd', data, 'p', prev)
elseif maxLen > 0 and offset > maxLen then
  stored = redis.call('XADD', log, 'NOMKSTREAM', 'MINID', '~', string.format('%d', offset - maxLen + 1), id, 't', topic, 'x', kind, 'd', data, 'p', prev)
else
  stored = redis.call('XADD', log, 'NOMKSTREAM', id, 't', topic, 'x', kind, 'd', data, 'p', prev)
end
if not stored then
  -- (as in ensure; no DEL: the stream is gone)
  epoch, fresh = ARGV[1] .. string.format('%x%05x', tonumber(time[1]), tonumber(time[2])), true
  head = 0
  renew() -- and the index with it (fields: none): the chain starts again
  offset, id, prev, since, restarted = 1, string.format('1-%d', now), '0', 1, true
  redis.call('XADD', log, id, 't', topic, 'x', kind, 'd', data, 'p', prev)
end

-- The age bound is kept lazily: once the oldest entry is an eighth of
-- maxAge past it, every entry older than maxAge goes, found by a binary
-- search over offsets (times grow with them). The oldest entry is read
-- once per sixteenth of maxAge at most (field a of the meta hash: when
-- next), not on every publish: that read was a call of its own.
local nextAge = tonumber(fields[6]) or 0
if maxAge > 0 and (now >= nextAge or nextAge > now + maxAge) then -- (or the clock went back)
  redis.call('HSET', meta, 'a', string.format('%d', now + math.max(1, math.floor(maxAge / 16))))
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
    indexState(offset)
    if lo > since then
      since, restarted = lo, true -- (the index's trim follows the stream's)
      if indexCursor == '' then
        indexCursor = '0' -- a pass of the index's trim starts
        redis.call('HSET', meta, 'jc', '0')
      end
    end
  end
end

-- The head, the topic's last offset and the index's chain (see
-- index.lua), in one HSET; every 16th publish, the index's trim first
-- (during a pass, or when it holds more topics than the chain has
-- messages: HLEN, less the hash's 16 other fields at most).
local own = 't:' .. topic
if offset % 16 == 0 then
  indexState(offset)
  if maxLen > 0 and since < offset - maxLen then
    since, restarted = offset - maxLen, true
  end
  if indexCursor ~= '' or redis.call('HLEN', meta) - 16 > offset - since + 1 then
    local cursor = indexTrim(indexCursor == '' and '0' or indexCursor, since)
    redis.call('HSET', meta, 'jc', cursor == '0' and '' or cursor)
  end
end
if restarted then
  redis.call('HSET', meta, 'h', offset, 'jl', offset, own, offset, 'je', epoch, 'js', since)
else
  redis.call('HSET', meta, 'h', offset, 'jl', offset, own, offset)
end
-- The stream was created at offset 1, and the meta hash again by a
-- renew: without an expiry yet.
keepAlive(tonumber(ARGV[12]), fresh or offset == 1)

local payload = string.format('%s %d %d %d %d\n', epoch, offset, now, #topic, #kind) .. topic .. kind .. data
if ARGV[6] == '1' then
  redis.call('SPUBLISH', ARGV[5], payload)
else
  redis.call('PUBLISH', ARGV[5], payload)
end
return {epoch, string.format('%d', offset)}
