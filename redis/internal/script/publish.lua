local maxLen, maxAge = tonumber(ARGV[7]), tonumber(ARGV[8])
-- A call stores n messages (a batch: the engine's group commit), in
-- order, at consecutive offsets: the first in ARGV[5] and ARGV[9..11],
-- message i > 1 in ARGV[4i+5..4i+8] (channel, topic, kind, data). The
-- meta hash, TIME and the checks (ensure) are read once, the head and
-- the index written once, by the batch's last message; each message has
-- its own entry and its own live payload, as if published alone.
-- (A lone message, the common case, costs no table: those cost Redis
-- about 10k instructions a call, 6% of a publish.)
local n = #ARGV > 12 and 1 + (#ARGV - 12) / 4 or 1
local offset, first = head, head + 1
local payload -- a lone message's
local lastOf, payloads -- a batch's: each topic's last offset; channel and payload of each message
if n > 1 then
  lastOf, payloads = {}, {}
end
-- Numbers go to Redis as strings, each formatted once: string.format
-- calls sprintf once per item (a %s too, of a string under 100 bytes),
-- 700 instructions or so of Redis each, and a number argument of
-- redis.call is formatted with "%.17g", a floating-point printf of 1,500
-- (the same digits, for an integer): a concatenation of strings costs
-- neither. (The entry's ID, payload and stored offsets as before.)
local nowS = string.format('%d', now)
local last -- the last message's offset, as a string
for i = 1, n do
  local topic, kind, data
  if i == 1 then
    topic, kind, data = ARGV[9], ARGV[10], ARGV[11]
  else
    topic, kind, data = ARGV[4 * i + 6], ARGV[4 * i + 7], ARGV[4 * i + 8]
  end
  offset = offset + 1
  last = string.format('%d', offset)
  local id = last .. '-' .. nowS
  -- The partition's topic index (see index.lua): the previous message of
  -- the topic, which the entry names (field p, always there, so that every
  -- entry has the same fields: a stream node stores their names once).
  -- After the first message, the chain goes on (the first one started it
  -- again if it had to): the topic's previous message is the batch's, or
  -- the one the meta hash names (taken as it is, stale or not: see
  -- index.lua).
  local prev
  if i == 1 then
    prev, since, restarted = indexPrevious(epoch)
  else
    prev = lastOf[topic] or fields[8 + i] or '0'
  end
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
  -- per publish). Only a batch's first message can find it gone: the
  -- script made it exist.
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
    offset, last, id, prev, since, restarted, first = 1, '1', '1-' .. nowS, '0', 1, true, 1
    redis.call('XADD', log, id, 't', topic, 'x', kind, 'd', data, 'p', prev)
  end
  payload = epoch .. ' ' .. last .. ' ' .. nowS .. string.format(' %d %d\n', #topic, #kind) .. topic .. kind .. data
  if n > 1 then
    lastOf[topic] = last
    payloads[2 * i - 1], payloads[2 * i] = i == 1 and ARGV[5] or ARGV[4 * i + 5], payload
  end
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
  local oldest = redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1]
  local lo, ms = parts(oldest[1])
  if ms < now - maxAge - math.floor(maxAge / 8) then
    local hi = offset -- stored now: never too old
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      local o, t = parts(redis.call('XRANGE', log, string.format('%d', mid), '+', 'COUNT', 1)[1][1])
      if t >= now - maxAge then hi = o else lo = o + 1 end
    end
    redis.call('XTRIM', log, 'MINID', string.format('%d', lo))
    indexState(first)
    if lo > since then
      since, restarted = lo, true -- (the index's trim follows the stream's)
      if indexCursor == '' then
        indexCursor = '0' -- a pass of the index's trim starts
        redis.call('HSET', meta, 'jc', '0')
      end
    end
  end
end

-- The head, the topics' last offsets and the index's chain (see
-- index.lua), in one HSET; every 16th offset, the index's trim first
-- (during a pass, or when it holds more topics than the chain has
-- messages: HLEN, less the hash's 16 other fields at most).
if offset % 16 == 0 or (n > 1 and math.floor(offset / 16) > math.floor((first - 1) / 16)) then -- the batch holds a 16th
  indexState(first)
  if maxLen > 0 and since < offset - maxLen then
    since, restarted = offset - maxLen, true
  end
  if indexCursor ~= '' or redis.call('HLEN', meta) - 16 > offset - since + 1 then
    local cursor = indexTrim(indexCursor == '' and '0' or indexCursor, since)
    redis.call('HSET', meta, 'jc', cursor == '0' and '' or cursor)
  end
end
if n == 1 then
  local own = 't:' .. ARGV[9]
  if restarted then
    redis.call('HSET', meta, 'h', last, 'jl', last, own, last, 'je', epoch, 'js', since)
  else
    redis.call('HSET', meta, 'h', last, 'jl', last, own, last)
  end
else
  local set = {'h', last, 'jl', last}
  for topic, o in pairs(lastOf) do
    set[#set + 1], set[#set + 2] = 't:' .. topic, o
  end
  if restarted then
    set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = 'je', epoch, 'js', since
  end
  redis.call('HSET', meta, unpack(set))
end
-- The stream was created at offset 1, and the meta hash again by a
-- renew: without an expiry yet.
keepAlive(tonumber(ARGV[12]), fresh or first == 1)

local publish = ARGV[6] == '1' and 'SPUBLISH' or 'PUBLISH'
if n == 1 then
  redis.call(publish, ARGV[5], payload)
else
  for i = 1, 2 * n, 2 do
    redis.call(publish, payloads[i], payloads[i + 1])
  end
end
-- The epoch and the last message's offset: the others' are the n - 1
-- before it.
return epoch .. ' ' .. last
