-- Registering a business, in steps that each touch one hash slot (ult/sponsors.py explains the
-- order and how a registration that died halfway is undone). ARGV[1] names the step.
--
-- begin    KEYS: profile, rule, events
--          ARGV: 'begin', now_ms, token, n, n profile fields/values..., rule fields/values...
--          Writes the profile (pending: field `pending` = token, `pending_ms` = server time),
--          the rule and the `registered` event. Reply: the entry id, 'exists' (a business has
--          this sid) or 'pending' (another registration of this sid has not finished).
-- finish   KEYS: profile; ARGV: 'finish', token
--          Reply: 'ok' (the registration is complete) or 'lost' (it was undone meanwhile).
-- doom     KEYS: profile; ARGV: 'doom', grace_ms
--          A pending registration older than grace_ms died: mark it so that it can no longer
--          finish. Reply: its pending_ms (doomed now or before), 'none' (no profile),
--          'done' (complete) or 'busy' (still within grace_ms).
-- undo     KEYS: every key of the sponsor; ARGV: 'undo', token
--          Deletes them when the profile is pending with token. Reply: 'undone' or 'kept'.
-- release  KEYS: ult:places; ARGV: 'release', place_id, sid
--          Frees the place if sid holds it. Reply: 1 if it is free now, else 0.
local step = ARGV[1]
local DOOMED = 'doomed'

local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

if step == 'begin' then
  local profile, rule, events = KEYS[1], KEYS[2], KEYS[3]
  if redis.call('EXISTS', profile) == 1 then
    if redis.call('HEXISTS', profile, 'pending') == 1 then return 'pending' end
    return 'exists'
  end
  local n = tonumber(ARGV[4])
  local prof, rl = {}, {}
  for i = 5, 4 + n do prof[#prof + 1] = ARGV[i] end
  for i = 5 + n, #ARGV do rl[#rl + 1] = ARGV[i] end
  redis.call('HSET', profile, unpack(prof))
  redis.call('HSET', profile, 'pending', ARGV[3], 'pending_ms', fmt(server_ms()))
  redis.call('HSET', rule, unpack(rl))
  local p = redis.call('HMGET', profile, 'biz', 'country', 'place_id', 'formatted_address', 'verified')
  return redis.call('XADD', events, ARGV[2] .. '-*', F.KIND, 'registered', 'biz', p[1], 'country', p[2],
    'place_id', p[3], 'formatted_address', p[4], 'verified', p[5])
elseif step == 'finish' then
  if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[2] then return 'lost' end
  redis.call('HDEL', KEYS[1], 'pending', 'pending_ms')
  return 'ok'
elseif step == 'doom' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'none' end
  local p = redis.call('HMGET', KEYS[1], 'pending', 'pending_ms')
  if not p[1] then return 'done' end
  if p[1] ~= DOOMED then
    if server_ms() - tonumber(p[2] or '0') < tonumber(ARGV[2]) then return 'busy' end
    redis.call('HSET', KEYS[1], 'pending', DOOMED)
  end
  return p[2] or '0'
elseif step == 'undo' then
  if redis.call('HGET', KEYS[1], 'pending') ~= ARGV[2] then return 'kept' end
  redis.call('DEL', unpack(KEYS))
  return 'undone'
elseif step == 'release' then
  local holder = redis.call('HGET', KEYS[1], ARGV[2])
  if holder == ARGV[3] then redis.call('HDEL', KEYS[1], ARGV[2]) end
  if holder == false or holder == ARGV[3] then return 1 end
  return 0
end
return redis.error_reply('unknown register step ' .. tostring(step))
