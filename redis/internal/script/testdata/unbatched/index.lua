-- The partition's topic index (see read.lua), kept in the meta hash:
-- field t:<topic> holds the offset of the topic's last message, and
-- each entry of the stream has field p, the offset of the previous
-- message of its topic ("0": none that the index knows of). A topic's
-- messages are a chain, walked back from its last one. In the meta hash,
-- which ensure reads (HMGET) and the publish writes (HSET) anyway, the
-- index costs a publish no call of its own: a sorted set of its own
-- ({prefix:p}:last, the versions before) cost a ZSCORE and a ZADD.
--
-- Fields je, js and jl of the meta hash (the chain: epoch, since, last)
-- say that every message of epoch je from offset js to offset jl was
-- indexed: a publisher that does not index this way (an older version)
-- breaks the chain, and the next one that does starts it again, so a
-- read never trusts an index that may lack a message. A t: field below
-- js is stale (its topic's last message came before the chain, or left
-- the stream): it counts for none, and is removed (below).
--
-- The t: fields of another epoch would name offsets of another stream:
-- a new epoch starts the meta hash again (renew, in ensure), and a
-- chain of another epoch (je: a new epoch started by an older version,
-- which does not renew) is dropped the same way before the chain starts
-- again. So every t: field of a hash whose je is the epoch was written
-- in that epoch, and those of the chain since js, at offsets from js on.
--
-- (Rolling upgrade: versions before kept the sorted set and fields ie,
-- is and il; this one keeps je, js, jl. Neither writes the other's
-- fields, so each sees its chain broken by the other's publishes and
-- reads through its own index only what its own kind indexed; a renew
-- drops the older one's fields, which only breaks its chain too. The
-- set expires once no older node refreshes it.)
--
-- The index is bounded: a topic that no longer publishes must not keep
-- its field while the partition lives. The chain's start js moves up
-- with the stream's bounds: every 16th publish to the length bound
-- (maxLen: the oldest offset the trim keeps), and to the age trim's
-- (publish.lua), so a t: field below js names a message the stream no
-- longer holds (or soon will not). Every 16th publish, HSCAN goes on
-- through the hash (its cursor in field jc) and removes the stale t:
-- fields among 64 buckets, in passes: a pass starts when the age trim
-- moved js (every topic of the messages it removed leaves the index
-- within the pass), or when the hash holds more t: fields than the
-- chain has messages (from js to the head: then some are stale; HLEN
-- tells, less the meta hash's other fields, 16 at most: a count of the
-- t: fields kept in a field of its own cost a read per publish of a new
-- topic), and goes on to its end (jc is '' between passes). Otherwise a
-- topic whose last message left HistorySize stays until the hash
-- outgrows the chain (a pass per 16 publishes cost more than the rest of
-- the index: 16k instructions per publish with 100 topics, where a small
-- hash is scanned whole). So the index holds the topics of
-- the chain's messages, HistorySize and 32 at most, and while stale
-- fields are being removed, those that came during a pass of the HSCAN
-- (16 publishes per 64 buckets, a bucket per publish at least: a topic
-- at most per publish comes meanwhile). A small hash (a listpack, under
-- 128 fields) is scanned whole. A read from before js scans the stream
-- instead (the chain no longer covers it).
--
-- indexPrevious returns the offset of the previous message of the topic
-- (as a string, for field p), the chain's start (since; nil where the
-- chain goes on: indexState reads it), and whether the chain started
-- again here; fields are the meta hash's as ensure read them. (The chain
-- goes on where jl is the head, both written from the same offset:
-- compared as strings, with no tonumber; see below in ensure.)
--
-- The topic's field is taken as it is, stale or not: a stale one is
-- below since, which the chain's readers never read from (read.lua),
-- so a walk that reaches it stops there, as at '0'; a field from since
-- on is the topic's last message (see above).
local function indexPrevious(epoch)
  if fields[5] == epoch and fields[8] == fields[2] then
    return fields[9] or '0', nil, false
  end
  -- Another epoch's offsets, if any, or a message that was not indexed
  -- came between: the chain starts again. The t: fields of this epoch
  -- are below offset, so below since: stale. Those of another epoch are
  -- dropped with the hash (fresh: ensure did it for its new epoch).
  if fields[5] and fields[5] ~= epoch and not fresh then
    renew()
  end
  return '0', head + 1, true
end

-- The chain's start (nil where it goes on, until indexState reads it),
-- and whether the publish writes it (fields je and js): set by
-- indexPrevious, the trims, and indexState.
local since, restarted

-- indexState reads what the publish needs of the index once in 16
-- publishes or less (the chain's start js where since is not known, the
-- HSCAN's cursor jc), as they are in the hash now, once per publish at
-- most.
local indexCursor
local function indexState(offset)
  if indexCursor then
    return
  end
  local s = redis.call('HMGET', meta, 'js', 'jc')
  if not since then
    since = tonumber(s[1])
    if not since then -- (a chain without its start: start it again)
      since, restarted = offset, true
    end
  end
  indexCursor = s[2] or ''
end

-- indexTrim removes the stale t: fields (below since) of up to 64
-- buckets of the hash, from cursor on, and returns the cursor to go on
-- from.
local function indexTrim(cursor, since)
  local r = redis.call('HSCAN', meta, cursor, 'COUNT', 64)
  local kv, gone = r[2], {}
  for i = 1, #kv, 2 do
    local f = kv[i]
    if string.byte(f, 1) == 116 and string.byte(f, 2) == 58 and tonumber(kv[i + 1]) < since then -- 't:'
      gone[#gone + 1] = f
    end
  end
  if #gone > 0 then
    redis.call('HDEL', meta, unpack(gone))
  end
  return r[1]
end
