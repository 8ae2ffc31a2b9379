-- Wallet passes (ult/wallet/registry.py). Every key is the sponsor's ({sid}). ARGV[1] names
-- the step.
--
-- add       KEYS: passes, the new pass
--           ARGV: 'add', cid, serial, ttl_s, most, then the pass's fields/values...
--           Writes the pass (its update tag `tag`: the current second) and appends its serial
--           to the card's list; past `most` passes the card's oldest serial is dropped from
--           the list. Reply: the dropped serial, or '' (its keys are the caller's to delete).
-- touch     KEYS: the pass; ARGV: 'touch', now_ms
--           The card changed: the pass's tag becomes a later second than both its tag and
--           now (HTTP dates have second resolution: each change is a new Last-Modified).
--           Reply: the new tag, or 0 when the pass is gone.
-- register  KEYS: the pass, its devices; ARGV: 'register', device, push token, most, ttl_s
--           Reply: 1 new registration, 0 updated, -1 the pass has `most` devices already,
--           -2 the pass is gone.
-- keep      KEYS: the pass, its devices; ARGV: 'keep', ttl_s
--           The pass was fetched: both live another ttl_s. Reply: 1, or 0 when it is gone.
local step = ARGV[1]

if step == 'add' then
  local passes, pass = KEYS[1], KEYS[2]
  local cid, serial, ttl, most = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local fields = {}
  for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', pass, unpack(fields))
  redis.call('EXPIRE', pass, ttl)
  local list = {}
  local stored = redis.call('HGET', passes, cid)
  if stored then
    for s in string.gmatch(stored, '%S+') do list[#list + 1] = s end
  end
  list[#list + 1] = serial
  local dropped = ''
  if #list > most then dropped = table.remove(list, 1) end
  redis.call('HSET', passes, cid, table.concat(list, ' '))
  return dropped
elseif step == 'touch' then
  local tag = redis.call('HGET', KEYS[1], 'tag')
  if not tag then return 0 end
  local now_s = math.ceil(tonumber(ARGV[2]) / 1000)
  local next_tag = math.max(now_s, tonumber(tag) + 1)
  redis.call('HSET', KEYS[1], 'tag', fmt(next_tag))
  return next_tag
elseif step == 'register' then
  local pass, devices = KEYS[1], KEYS[2]
  if redis.call('EXISTS', pass) == 0 then return -2 end
  local device, token, most, ttl = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  local known = redis.call('HEXISTS', devices, device) == 1
  if not known and redis.call('HLEN', devices) >= most then return -1 end
  redis.call('HSET', devices, device, token)
  redis.call('EXPIRE', devices, ttl)
  redis.call('EXPIRE', pass, ttl)
  if known then return 0 end
  return 1
elseif step == 'keep' then
  if redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) == 0 then return 0 end
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
  return 1
end
return redis.error_reply('unknown step')
