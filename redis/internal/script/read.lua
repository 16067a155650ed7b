local meta, log = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'h', 'i')
local epoch, head = fields[1], tonumber(fields[2])
if not epoch or not head or epoch ~= ARGV[1] then
  return {'epoch', epoch or '', string.format('%d', head or 0)}
end
local from = tonumber(ARGV[2])
if from > head then
  return {'ahead', epoch, string.format('%d', head)}
end
if from == head then
  return {'ok', epoch, string.format('%d', head), {}}
end
local function offsetOf(id)
  return tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
end
local want = {}
for i = 4, #ARGV do
  want[ARGV[i]] = true
end

-- With the topics' indexes (KEYS[3:], see index.lua), read only their
-- entries, when they are few and the indexes are sure to hold every one
-- of them: the chain of indexed messages covers the range, and its first
-- message is younger than the indexes' life (an hour), less a margin for
-- the clock (a quarter hour): an index missing then only means that its
-- topic had no message in the range.
if ARGV[3] == '1' and #KEYS > 2 then
  local first = redis.call('XRANGE', log, string.format('%d', from + 1), '+', 'COUNT', 1)[1]
  if not first or offsetOf(first[1]) ~= from + 1 then
    return {'trimmed', epoch, string.format('%d', head)}
  end
  local covered = false
  if fields[3] then
    local e, s, l = string.match(fields[3], '^(%S+) (%d+) (%d+)$')
    if e == epoch and tonumber(s) <= from + 1 and tonumber(l) == head then
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      local ms = tonumber(string.sub(first[1], string.find(first[1], '-', 1, true) + 1))
      covered = ms >= now - 2700000
    end
  end
  if covered then
    -- Topics with many messages (their indexes' lengths say) are cheaper
    -- to read from the range itself.
    local indexed = 0
    for k = 3, #KEYS do
      indexed = indexed + redis.call('ZCARD', KEYS[k])
    end
    covered = indexed * 4 < head - from
  end
  if covered then
    local offsets, seen = {}, {}
    for k = 3, #KEYS do
      for _, m in ipairs(redis.call('ZRANGE', KEYS[k], string.format('%d', from + 1), string.format('%d', head), 'BYSCORE')) do
        local o = tonumber(m)
        if not seen[o] then
          seen[o] = true
          offsets[#offsets + 1] = o
        end
      end
    end
    table.sort(offsets)
    -- One XRANGE per run of consecutive offsets.
    local out, i = {}, 1
    while i <= #offsets do
      local j = i
      while j < #offsets and offsets[j + 1] == offsets[j] + 1 do
        j = j + 1
      end
      for _, e in ipairs(redis.call('XRANGE', log, string.format('%d', offsets[i]), string.format('%d', offsets[j]))) do
        -- An index may hold offsets of an older epoch: check the topic.
        if e[2][2] == '' or want[e[2][2]] then
          out[#out + 1] = e
        end
      end
      i = j + 1
    end
    return {'ok', epoch, string.format('%d', head), out}
  end
end

local entries = redis.call('XRANGE', log, string.format('%d', from + 1), string.format('%d', head))
local first = entries[1]
if not first or offsetOf(first[1]) ~= from + 1 then
  return {'trimmed', epoch, string.format('%d', head)}
end
if ARGV[3] ~= '1' then
  return {'ok', epoch, string.format('%d', head), entries}
end
local out = {}
for _, e in ipairs(entries) do
  local t = e[2][2]
  if t == '' or want[t] then
    out[#out + 1] = e
  end
end
return {'ok', epoch, string.format('%d', head), out}
