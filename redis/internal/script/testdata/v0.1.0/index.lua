-- The partition's topic index (see read.lua). KEYS[3], {prefix:p}:ixt,
-- is a sorted set of "<topic>\0<offset in 20 digits>", one per message,
-- all scored 0: one topic's offsets are a range of its members. KEYS[4],
-- {prefix:p}:ixo, is a stream of the same messages by offset (entry ID
-- "<offset>-0", field t: the topic), where the oldest are found, to trim
-- both as the partition's stream is trimmed by HistorySize. Like the
-- meta hash and the stream, they are keys of the partition, which
-- expire with them (see keepAlive in ensure.lua).
--
-- Field i of the meta hash, "<epoch> <since> <last>", says that every
-- message of the epoch from offset since to offset last is indexed: a
-- publisher that does not index (an older version) breaks the chain, and
-- the next one that does starts it again, so a read never trusts an
-- index that may lack a message. A new epoch empties the index, and so
-- does a publish that finds one of its keys missing. indexMessage
-- reports whether the chain started again.
local function indexMessage(ixt, ixo, meta, epoch, offset, maxLen, topic)
  local since = offset
  local chain = redis.call('HGET', meta, 'i')
  local e, s, l
  if chain then
    e, s, l = string.match(chain, '^(%S+) (%d+) (%d+)$')
  end
  if e ~= epoch or redis.call('EXISTS', ixt, ixo) ~= 2 then
    -- Another epoch's offsets, if any, or what is left of an index that
    -- lost one of its keys (evicted, deleted): the chain starts again.
    redis.call('DEL', ixt, ixo)
  elseif tonumber(l) == offset - 1 then
    since = tonumber(s)
  end
  local id = string.format('%d-0', offset)
  if redis.pcall('XADD', ixo, id, 't', topic)['err'] then
    -- The index holds later offsets than this one (Redis lost some of
    -- the partition's keys but not the index): start it again.
    redis.call('DEL', ixt, ixo)
    redis.call('XADD', ixo, id, 't', topic)
    since = offset
  end
  redis.call('ZADD', ixt, 0, topic .. '\0' .. string.format('%020d', offset))
  if maxLen > 0 and offset > maxLen and offset % 8 == 0 then
    -- Every eighth message, at most 16: the index holds at most 8 more
    -- than the stream, and catches up after a change of HistorySize.
    local old = redis.call('XRANGE', ixo, '-', string.format('%d', offset - maxLen), 'COUNT', 16)
    if #old > 0 then
      local members = {}
      for i, entry in ipairs(old) do
        local dash = string.find(entry[1], '-', 1, true)
        members[i] = entry[2][2] .. '\0' .. string.format('%020d', tonumber(string.sub(entry[1], 1, dash - 1)))
      end
      redis.call('ZREM', ixt, unpack(members))
      redis.call('XTRIM', ixo, 'MINID', string.format('%d', tonumber(string.sub(old[#old][1], 1, string.find(old[#old][1], '-', 1, true) - 1)) + 1))
    end
  end
  redis.call('HSET', meta, 'i', string.format('%s %d %d', epoch, since, offset))
  return since == offset -- the chain started again: the keys may be new
end
