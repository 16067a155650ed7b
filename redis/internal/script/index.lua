-- A topic's index, {prefix:p}:idx:<topic>, is a sorted set of the
-- offsets of its messages (each scored with itself: up to 128 small
-- members make a compact listpack, where a stream would take 4 KB from
-- its first entry), trimmed as the partition's stream is by HistorySize:
-- a read that resumes a few topics reads their entries only, not the
-- partition's whole range. It expires indexTTL after the topic's last
-- message.
-- Field i of the meta hash, "<epoch> <since> <last>", says that every
-- message of the epoch from offset since to offset last is indexed: a
-- publisher that does not index (an older version) breaks the chain, and
-- the next one that does starts it again, so a read never trusts an
-- index that may lack a message. An index may still hold offsets of an
-- older epoch: a read checks each entry's topic.
local indexTTL = 3600000

local function indexMessage(idx, meta, epoch, offset, maxLen)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] and tonumber(top[2]) >= offset then
    redis.call('DEL', idx) -- offsets of an older epoch
  end
  redis.call('ZADD', idx, offset, string.format('%d', offset))
  if maxLen > 0 and offset > maxLen then
    redis.call('ZREMRANGEBYSCORE', idx, '-inf', string.format('(%d', offset - maxLen + 1))
  end
  redis.call('PEXPIRE', idx, indexTTL)
  local since = offset
  local chain = redis.call('HGET', meta, 'i')
  if chain then
    local e, s, l = string.match(chain, '^(%S+) (%d+) (%d+)$')
    if e == epoch and tonumber(l) == offset - 1 then
      since = tonumber(s)
    end
  end
  redis.call('HSET', meta, 'i', string.format('%s %d %d', epoch, since, offset))
end
