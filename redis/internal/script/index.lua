-- A topic's index, {prefix:p}:idx:<topic>, is a stream of the offsets of
-- its messages (entry IDs "<offset>-0", one empty field): a read that
-- resumes a few topics reads their entries only, not the partition's
-- whole range. It expires indexTTL after the topic's last message.
-- Field i of the meta hash, "<epoch> <since> <last>", says that every
-- message of the epoch from offset since to offset last is indexed: a
-- publisher that does not index (an older version) breaks the chain, and
-- the next one that does starts it again, so a read never trusts an
-- index that may lack a message. An index may still hold offsets of an
-- older epoch: a read checks each entry's topic.
local indexTTL = 3600000

local function indexMessage(idx, meta, epoch, offset, maxLen)
  local top = redis.call('XREVRANGE', idx, '+', '-', 'COUNT', 1)[1]
  if top and tonumber(string.sub(top[1], 1, string.find(top[1], '-', 1, true) - 1)) >= offset then
    redis.call('DEL', idx) -- offsets of an older epoch
  end
  local id = string.format('%d-0', offset)
  if maxLen > 0 and offset > maxLen then
    redis.call('XADD', idx, 'MINID', string.format('%d', offset - maxLen + 1), id, '', '')
  else
    redis.call('XADD', idx, id, '', '')
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
