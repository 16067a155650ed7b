local meta, log = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'h', 'je', 'js', 'jl')
local epoch, head = fields[1], tonumber(fields[2])
if not epoch or not head or epoch ~= ARGV[1] then
  return {'epoch', epoch or '', string.format('%d', head or 0)}
end
local headS = string.format('%d', head)
local from = tonumber(ARGV[2])
if from > head then
  return {'ahead', epoch, headS}
end
if from == head then
  return {'ok', epoch, headS, {}, headS}
end
local filter = ARGV[3] == '1'
local count, budget, scan = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local want = {}
for i = 7, #ARGV do
  want[ARGV[i]] = true
end
local function offsetOf(id)
  return tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
end
-- The page: the entries returned, and their data's bytes. full adds e
-- and reports whether the page is full (count entries, or budget bytes
-- reached: the entry that reaches it is the page's last).
local out, n, bytes = {}, 0, 0
local function full(e)
  n = n + 1
  out[n] = e
  bytes = bytes + #(e[2][6] or '') -- fields t, x, d: as the publish script writes them
  return n >= count or (budget > 0 and bytes >= budget)
end
local function matches(e)
  local t = e[2][2]
  return not filter or t == '' or want[t] -- (a topic name with a NUL may match another's index range)
end

-- With the partition's topic index (the meta hash's t: fields, see
-- index.lua), read only the entries of the topics, when the index is
-- sure to hold every one of them (its chain covers the range) and they
-- are few: each topic's chain is walked back from its last offset to the
-- range's start, an XRANGE of one entry per message, and the walk gives
-- up for a scan of the range once it took a quarter of the range's
-- length in steps (or scan steps: a call's bound). A t: field below the
-- chain's start (stale) is below the range too: it names no message.
if filter then
  if fields[3] == epoch and (tonumber(fields[4]) or head + 1) <= from + 1 and tonumber(fields[5]) == head then
    local first = redis.call('XRANGE', log, string.format('%d', from + 1), '+', 'COUNT', 1)[1]
    if not first or offsetOf(first[1]) ~= from + 1 then
      return {'trimmed', epoch, headS}
    end
    local topics, seen = {''}, {[''] = true}
    for i = 7, #ARGV do
      if not seen[ARGV[i]] then
        seen[ARGV[i]] = true
        topics[#topics + 1] = ARGV[i]
      end
    end
    local names = {}
    for i, t in ipairs(topics) do
      names[i] = 't:' .. t
    end
    local lasts = redis.call('HMGET', meta, unpack(names))
    local limit = math.min(scan, math.floor((head - from) / 4))
    local found, steps, walked = {}, 0, true
    for i, t in ipairs(topics) do
      local o = tonumber(lasts[i] or '0')
      while o > from do
        steps = steps + 1
        local e = steps <= limit and redis.call('XRANGE', log, string.format('%d', o), string.format('%d', o))[1]
        -- (an entry of another topic, or without p: not the chain the
        -- index promised; scan instead)
        if not e or e[2][2] ~= t or e[2][7] ~= 'p' then
          walked = false
          break
        end
        found[#found + 1] = e
        o = tonumber(e[2][8])
      end
      if not walked then
        break
      end
    end
    if walked then
      table.sort(found, function(a, b) return offsetOf(a[1]) < offsetOf(b[1]) end)
      for _, e in ipairs(found) do
        if full(e) then
          return {'ok', epoch, headS, out, string.format('%d', offsetOf(e[1]))}
        end
      end
      return {'ok', epoch, headS, out, headS}
    end
  end
end

-- Otherwise the range is scanned, from from on, in chunks no larger than
-- what the page still lacks (every entry may be one of the page's), until
-- the page is full, the head is reached, or scan entries were examined:
-- the reply's position is then the last entry examined, and the next
-- call goes on from it.
local at, examined = from, 0
while at < head and examined < scan do
  local need = count - n
  if budget > 0 then
    if n == 0 then
      need = math.min(need, 64) -- the data's size is not known yet
    else
      need = math.min(need, math.ceil((budget - bytes) * n / math.max(bytes, 1)) + 1)
    end
  end
  if filter then
    need = math.max(need, 64)
  end
  local entries = redis.call('XRANGE', log, string.format('%d', at + 1), headS, 'COUNT', math.min(need, head - at, scan - examined))
  if #entries == 0 then
    break
  end
  for _, e in ipairs(entries) do
    local o = offsetOf(e[1])
    if o ~= at + 1 then
      break -- trimmed (offsets are dense): at stays before the gap
    end
    at, examined = o, examined + 1
    if matches(e) and full(e) then
      return {'ok', epoch, headS, out, string.format('%d', o)}
    end
  end
  if at ~= offsetOf(entries[#entries][1]) then
    break
  end
end
if at == from then
  return {'trimmed', epoch, headS}
end
return {'ok', epoch, headS, out, string.format('%d', at)}
