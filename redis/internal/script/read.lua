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

-- With the partition's topic index (KEYS[3], see index.lua), read only
-- the entries of the topics, when they are few (a quarter of the range
-- at most) and the index is sure to hold every one of them: its chain
-- covers the range.
if ARGV[3] == '1' and KEYS[3] then
  local chain = fields[3] and {string.match(fields[3], '^(%S+) (%d+) (%d+)$')} or {}
  if chain[1] == epoch and tonumber(chain[2]) <= from + 1 and tonumber(chain[3]) == head then
    local first = redis.call('XRANGE', log, string.format('%d', from + 1), '+', 'COUNT', 1)[1]
    if not first or offsetOf(first[1]) ~= from + 1 then
      return {'trimmed', epoch, string.format('%d', head)}
    end
    local lo, hi = string.format('%020d', from + 1), string.format('%020d', head)
    local topics = {''}
    for i = 4, #ARGV do
      topics[#topics + 1] = ARGV[i]
    end
    local count = 0
    for _, t in ipairs(topics) do
      count = count + redis.call('ZLEXCOUNT', KEYS[3], '[' .. t .. '\0' .. lo, '[' .. t .. '\0' .. hi)
    end
    if count * 4 <= head - from then
      local offsets, seen = {}, {}
      for _, t in ipairs(topics) do
        for _, m in ipairs(redis.call('ZRANGE', KEYS[3], '[' .. t .. '\0' .. lo, '[' .. t .. '\0' .. hi, 'BYLEX')) do
          local o = tonumber(string.sub(m, -20))
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
          if e[2][2] == '' or want[e[2][2]] then -- (a topic name with a NUL may match another's range)
            out[#out + 1] = e
          end
        end
        i = j + 1
      end
      return {'ok', epoch, string.format('%d', head), out}
    end
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
