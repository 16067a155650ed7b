local meta, log = KEYS[1], KEYS[2]
-- Who runs this script: run, the server process's run_id, and ident,
-- the first 16 hex digits of it followed, while it is a master, by its
-- master_replid, which a promotion changes (see "Histories that go back"
-- in docs/redis-engine.md): 56 bytes, for a value of more than 64 would
-- make Redis keep the meta hash as a hash table, not a listpack (more
-- memory, and HSCAN in pieces: see index.lua). The engine bakes them in here (with a nonce)
-- and loads the text into that process only (see Bake in script.go):
-- then they cost no call. As written here (false), the script reads them
-- from INFO on every call; so does a baked text that checks them (check:
-- see Bake), which fails with FANOUTSTALE, writing nothing, when they
-- are no longer the server's.
local run, ident, check = false, false, false
if not run or check or ARGV[1] == '?' then
  local info = redis.pcall('INFO', 'server', 'replication')
  if type(info) ~= 'string' then
    return redis.error_reply('FANOUTINFO ' .. tostring(info.err))
  end
  local at = string.find(info, 'run_id:', 1, true) -- a plain find: a pattern costs 2 µs
  local server = at and string.sub(info, at + 7, at + 46) or '' -- 40 hex digits
  local replid = ''
  if string.find(info, 'role:master', 1, true) then
    at = string.find(info, 'master_replid:', 1, true)
    replid = at and string.sub(info, at + 14, at + 53) or '' -- 40 hex digits
  end
  if ARGV[1] == '?' then
    -- The probe (see Bake): the server's run_id and master_replid,
    -- nothing written.
    return server .. replid
  end
  local live = string.sub(server, 1, 16) .. replid
  if check and (server ~= run or live ~= ident) then
    return redis.error_reply('FANOUTSTALE')
  end
  run, ident = server, live
end
-- e, h, r, n as above; je, jl and the topic's field (t:<topic>) for the
-- publish script's topic index (index.lua), a for its age trim, k for
-- keepAlive, read here so that they cost no call of their own. (Head
-- reads e again in the topic's place.) Each field costs about 2,000
-- instructions of Redis (HMGET's lookup, the reply, its Lua string):
-- those needed once in 16 publishes or less are read when needed.
local fields = redis.call('HMGET', meta, 'e', 'h', 'r', 'n', 'je', 'a', 'k', 'jl',
  publishing and 't:' .. ARGV[9] or 'e', 'q')
local wrote = fields[10] -- q (a batch's topics take its place below)
if publishing and #ARGV > 12 then
  -- A batch (see publish.lua): the field of each message's topic after
  -- the first's, fields[8 + i] message i's.
  local more = {}
  for i = 14, #ARGV, 4 do
    more[#more + 1] = 't:' .. ARGV[i]
  end
  more = redis.call('HMGET', meta, unpack(more))
  for i = 1, #ARGV / 4 - 3 do
    fields[9 + i] = more[i]
  end
end
local epoch, head = fields[1], tonumber(fields[2])
local fresh = false -- a new epoch: its keys need their expiry
if fields[4] and fields[4] ~= ARGV[2] then
  -- The nodes that came first spread the topics over another number
  -- of partitions: this node would not see their messages, nor they its.
  return redis.error_reply('FANOUTLAYOUT ' .. fields[4])
end
local time = redis.call('TIME')
-- below tells whether a is below b, both offsets in decimal without
-- leading zeros (as the scripts and the engine write them): compared as
-- strings, for tonumber (strtod) costs 1 to 2 thousand instructions of
-- Redis a call, which the scripts spend as little as they can.
local function below(a, b)
  return #a < #b or (#a == #b and a < b)
end
-- renew starts the meta hash again, with only the epoch and head in
-- locals epoch and head: for a new epoch, whose hash must not keep the
-- topic index of another (its t: fields; see index.lua). UNLINK frees a
-- large hash in the background. The keys' expiry (field k) goes with it:
-- fresh makes keepAlive set it again. fields then holds what the hash
-- holds of the others: none.
local function renew()
  redis.call('UNLINK', meta)
  redis.call('HSET', meta, 'e', epoch, 'h', head, 'r', run, 'n', ARGV[2], 'q', ident)
  fresh, fields = true, {}
end
-- The Redis time in ms. TIME's two decimal strings are converted by the
-- arithmetic itself: a tonumber converts its argument twice (Lua 5.1's
-- tonumber asks lua_isnumber, then lua_tonumber: two strtod of 500 to
-- 600 instructions of Redis each), an operand of * or / once.
local now = time[1] * 1000 + math.floor(time[2] / 1000)
-- The server's run_id changes whenever the data set may have gone back
-- without the keys showing it (a restart from a snapshot, a failover to a
-- replica that lagged), but for a failover back to the same process (A
-- fails over to its replica B, is made B's replica, resynchronised from
-- it, and promoted again): a promotion changes its master_replid. A
-- history written under another run_id (field r), or under this one and
-- another master_replid (field q, as ident), is
-- not trusted to go on (see the package documentation). Versions before
-- q (v0.1.0) write r alone, and start an epoch without removing q: a q
-- of another run_id than r is theirs, stale, and so is a missing one;
-- it is set again (below), not taken for a failover, so that nodes of
-- both versions on one partition never start epochs over each other.
-- No epoch, or its stream is gone, or it may have gone back (another
-- server wrote it, or the caller saw a later offset of it): a new life,
-- from offset 0, named by the caller's random prefix and the Redis time,
-- so that no epoch is taken twice. (The publish script does not ask
-- whether the stream exists: its XADD does not create it where the head
-- says there were messages, and tells when it is gone, and the publish
-- then starts the new epoch itself: see publish.lua. That is a call
-- fewer per publish.)
if not epoch or not head or fields[3] ~= run or (epoch == ARGV[3] and below(fields[2], ARGV[4]))
    or (wrote ~= ident and wrote and string.sub(wrote, 1, 16) == string.sub(run, 1, 16))
    or (head > 0 and not publishing and redis.call('EXISTS', log) == 0) then
  epoch, head = ARGV[1] .. string.format('%x%05x', tonumber(time[1]), tonumber(time[2])), 0
  redis.call('UNLINK', log)
  renew()
elseif wrote ~= ident then
  redis.call('HSET', meta, 'q', ident) -- none, or stale (see above)
end
-- keepAlive gives every key of the partition (KEYS) the same expiry,
-- life ms from now, when force is set (a key may have been created
-- without one) or when the meta hash's is down by an eighth of life (or
-- it has none: written by an older version), so that the keys are gone
-- life ms (at least seven eighths of it) after the last publish or head
-- read, all at once: they expire at the same time. When they expire is
-- kept in the meta hash (field k, Redis time in ms), read with the rest,
-- so that a call costs no PTTL (under a µs of Redis CPU), and a
-- refresh a PEXPIRE per key and an HSET every eighth of life. (Redis keeps
-- an expiry as a time too: k is the meta hash's PTTL plus now, unless
-- the keys' expiry was changed by another hand.) A nil life (a caller of
-- an older version) leaves them as they are.
local function keepAlive(life, force)
  if not life then
    return
  end
  if force or (tonumber(fields[7]) or 0) - now < life - math.floor(life / 8) then
    for i = 1, #KEYS do
      redis.call('PEXPIRE', KEYS[i], life)
    end
    redis.call('HSET', meta, 'k', string.format('%d', now + life))
  end
end
