local meta, log = KEYS[1], KEYS[2]
local fields = redis.call('HMGET', meta, 'e', 'h')
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
local entries = redis.call('XRANGE', log, string.format('%d', from + 1), string.format('%d', head))
local first = entries[1]
if not first or tonumber(string.sub(first[1], 1, string.find(first[1], '-', 1, true) - 1)) ~= from + 1 then
  return {'trimmed', epoch, string.format('%d', head)}
end
if ARGV[3] ~= '1' then
  return {'ok', epoch, string.format('%d', head), entries}
end
local want = {}
for i = 4, #ARGV do
  want[ARGV[i]] = true
end
local out = {}
for _, e in ipairs(entries) do
  local t = e[2][2]
  if t == '' or want[t] then
    out[#out + 1] = e
  end
end
return {'ok', epoch, string.format('%d', head), out}
