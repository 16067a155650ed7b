local meta, log = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'h', 'r', 'n')
local epoch, head = fields[1], tonumber(fields[2])
local fresh = false -- a new epoch: its keys need their expiry
if fields[4] and fields[4] ~= ARGV[2] then
  -- The nodes that came first spread the topics over another number
  -- of partitions: this node would not see their messages, nor they its.
  return redis.error_reply('FANOUTLAYOUT ' .. fields[4])
end
-- The server's run_id changes whenever the data set may have gone back
-- without the keys showing it (a restart from a snapshot, a failover to a
-- replica that lagged): a history written under another run_id is not
-- trusted to go on (see the package documentation).
local info = redis.pcall('INFO', 'server')
if type(info) ~= 'string' then
  return redis.error_reply('FANOUTINFO ' .. tostring(info.err))
end
local at = string.find(info, 'run_id:', 1, true) -- a plain find: a pattern costs 2 µs
local run = at and string.sub(info, at + 7, at + 46) -- 40 hex digits
if not epoch or not head or (head > 0 and redis.call('EXISTS', log) == 0)
    or fields[3] ~= run or (epoch == ARGV[3] and head < tonumber(ARGV[4])) then
  -- No epoch, or its stream is gone, or it may have gone back (another
  -- server wrote it, or the caller saw a later offset of it): a new
  -- life, from offset 0, named by the caller's random prefix and the
  -- Redis time, so that no epoch is taken twice.
  local t = redis.call('TIME')
  epoch, head = ARGV[1] .. string.format('%x%05x', tonumber(t[1]), tonumber(t[2])), 0
  redis.call('DEL', log)
  redis.call('HSET', meta, 'e', epoch, 'h', 0, 'r', run, 'n', ARGV[2])
  fresh = true
end
-- keepAlive gives every key of the partition (KEYS) the same expiry,
-- life ms from now, when force is set (a key may have been created
-- without one) or when the meta hash's is down by an eighth of life (or
-- it has none: written by an older version), so that a refresh costs a
-- PTTL per call and four PEXPIREs every eighth of life. The keys are
-- then gone life ms (at least seven eighths of it) after the last
-- publish or head read, all at once: they expire at the same time. A nil
-- life (a caller of an older version) leaves them as they are.
local function keepAlive(life, force)
  if not life then
    return
  end
  if force or redis.call('PTTL', meta) < life - math.floor(life / 8) then
    for i = 1, #KEYS do
      redis.call('PEXPIRE', KEYS[i], life)
    end
  end
end
