-- The partition's topic index (see read.lua). KEYS[3], {prefix:p}:last,
-- is a sorted set of the topics, each scored by the offset of its last
-- message; and each entry of the stream has field p, the offset of the
-- previous message of its topic ("0": none that the index knows of). A
-- topic's messages are a chain, walked back from its last one. Like the
-- meta hash and the stream, the set is a key of the partition, which
-- expires with them (see keepAlive in ensure.lua).
--
-- Fields ie, is and il of the meta hash (the chain: epoch, since, last;
-- three fields, not one string: a pattern to split it cost 2 to 4 µs)
-- say that every message of epoch ie from offset is to offset il was
-- indexed: a publisher that does not index (an older version) breaks
-- the chain, and the next one that does starts it again, so a read
-- never trusts an index that may lack a message. A new epoch empties
-- the set, and so does a publish that finds it (or the stream)
-- missing. (Versions before
-- kept field i and the keys ixt and ixo: a node of such a version sees
-- its chain broken by this one's publishes, and this one its, so each
-- reads through its own index only what its own kind indexed; the old
-- keys expire once no old node refreshes them.)
--
-- The set is bounded: a topic that no longer publishes must not keep
-- its member while the partition lives. Every 16th publish, the topics
-- whose last message is below the stream's length bound (maxLen: the
-- oldest offset the last trim kept) are removed, by score
-- (ZREMRANGEBYSCORE: no entry is read), and the chain's start (since)
-- moves up to that bound: the set holds the topics of the last maxLen
-- messages, and at most 16 more, and a read from before since scans the
-- stream instead (the chain no longer covers it). (A hash of the last
-- offsets, trimmed by reading the entries that left the bound to find
-- their topics, cost 4 µs more per publish with 10,000 topics:
-- TestPublishCost.)
--
-- indexPrevious returns the offset of the previous message of topic (as
-- a string, for field p) and the chain's start (since); fields are the
-- meta hash's as ensure read them. It trims the set first (see above).
-- A set that was lost (evicted) while the meta hash stayed must start
-- the chain again, or a read would take the topics it lacks for topics
-- with no message: it is asked whether it exists only when it does not
-- know the topic (a lost set knows none), which costs a publish of a
-- known topic no call.
local function indexPrevious(last, fields, epoch, offset, maxLen, topic)
  local since = tonumber(fields[8])
  if fields[5] == epoch and since and tonumber(fields[9]) == offset - 1 then
    if maxLen > 0 and offset % 16 == 0 and since < offset - maxLen then
      since = offset - maxLen
      -- (never empties the set: the topic of offset - 1 stays)
      redis.call('ZREMRANGEBYSCORE', last, '-inf', string.format('(%d', since))
    end
    local prev = redis.call('ZSCORE', last, topic)
    if prev then
      return prev, since
    end
    if redis.call('EXISTS', last) == 1 then
      return '0', since
    end
  end
  -- Another epoch's offsets, if any, or a message that was not indexed
  -- came between, or what is left of an index that lost a key: the chain
  -- starts again.
  redis.call('DEL', last)
  return '0', offset
end
