-- The partition's topic index (see read.lua). KEYS[3], {prefix:p}:last,
-- is a hash: topic -> the offset of its last message; and each entry of
-- the stream has field p, the offset of the previous message of its
-- topic ("0": none that the index knows of). A topic's messages are a
-- chain, walked back from its last one. Like the meta hash and the
-- stream, the hash is a key of the partition, which expires with them
-- (see keepAlive in ensure.lua).
--
-- Fields ie, is and il of the meta hash (the chain: epoch, since, last;
-- three fields, not one string: a pattern to split it cost 2 to 4 µs)
-- say that every message of epoch ie from offset is to offset il was
-- indexed: a publisher that does not index (an older version) breaks
-- the chain, and the next one that does starts it again, so a read
-- never trusts an index that may lack a message. A new epoch empties the hash, and so
-- does a publish that finds it (or the stream) missing. (Versions before
-- kept field i and the keys ixt and ixo: a node of such a version sees
-- its chain broken by this one's publishes, and this one its, so each
-- reads through its own index only what its own kind indexed; the old
-- keys expire once no old node refreshes them.)
--
-- The hash is bounded: a topic that no longer publishes must not keep
-- its field while the partition lives. The chain's start (since) is
-- moved along behind the stream's length bound, maxLen: every 16th
-- publish, the entries from since up to 32 past the oldest that bound
-- keeps (at most 32) are read, before this publish trims the stream
-- (the bound kept them all: the trim drops only entries below it), and
-- each one that is still its topic's last message has its topic's field
-- dropped; since moves past them. So the hash holds the topics of the
-- last maxLen messages, and at most 32 more; a read from before since
-- scans the stream instead (the chain no longer covers it).
-- When those entries are gone already (the age trim took them, or
-- HistorySize was lowered), the chain starts again.
--
-- indexPrevious returns the offset of the previous message of topic (as
-- a string, for field p) and the chain's start (since); fields are the
-- meta hash's as ensure read them, present whether the partition's keys
-- all existed then. It trims the hash first (see above).
local function indexPrevious(last, log, fields, present, epoch, offset, maxLen, topic)
  local since = tonumber(fields[8])
  if fields[5] == epoch and present and since and tonumber(fields[9]) == offset - 1 then
    local bound = offset - maxLen -- the oldest offset the length bound kept (the last trim's)
    if maxLen > 0 and offset % 16 == 0 and since < bound + 32 then
      local upTo = math.min(since + 31, bound + 31, offset - 1)
      local entries = redis.call('XRANGE', log, string.format('%d', since), string.format('%d', upTo))
      local function offsetOf(entry)
        return tonumber(string.sub(entry[1], 1, string.find(entry[1], '-', 1, true) - 1))
      end
      if #entries > 0 and offsetOf(entries[1]) == since then
        local topics = {}
        for i, entry in ipairs(entries) do
          topics[i] = entry[2][2]
        end
        local lasts, gone = redis.call('HMGET', last, unpack(topics)), {}
        for i, entry in ipairs(entries) do
          if tonumber(lasts[i]) == offsetOf(entry) then
            gone[#gone + 1] = topics[i]
          end
        end
        if #gone > 0 then
          redis.call('HDEL', last, unpack(gone))
        end
        since = offsetOf(entries[#entries]) + 1
      else
        since = nil -- gone: start again
      end
    end
    if since then
      return redis.call('HGET', last, topic) or '0', since
    end
  end
  -- Another epoch's offsets, if any, or a message that was not indexed
  -- came between, or what is left of an index that lost a key, or one
  -- whose trim lost track: the chain starts again.
  redis.call('DEL', last)
  return '0', offset
end
