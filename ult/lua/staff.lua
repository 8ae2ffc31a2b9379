-- The owner adds, revokes or lists named staff keys (only their hashes are stored).
-- KEYS: profile, staff
-- ARGV: owner_hash, action ('add' | 'revoke' | 'list'), name, staff_hash, now_ms, max_keys
-- Reply: {status, ...}; status: ok | unknown_sponsor | unauthorized | name_taken | too_many
--        | unknown_staff. 'list' answers {'ok', name1, created_ms1, name2, created_ms2, ...}.
local profile, staff = KEYS[1], KEYS[2]
local owner_hash, action, name, staff_hash = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return {'unknown_sponsor'} end
if stored ~= owner_hash then return {'unauthorized'} end

if action == 'list' then
  local out = {'ok'}
  local flat = redis.call('HGETALL', staff)
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == 'c:' then
      out[#out + 1] = string.sub(flat[i], 3)
      out[#out + 1] = flat[i + 1]
    end
  end
  return out
end

local old = redis.call('HGET', staff, 'n:' .. name)
if action == 'add' then
  if old then return {'name_taken'} end
  if redis.call('HLEN', staff) >= 3 * tonumber(ARGV[6]) then return {'too_many'} end
  redis.call('HSET', staff, 'n:' .. name, staff_hash, 'k:' .. staff_hash, name, 'c:' .. name, ARGV[5])
  return {'ok'}
end
-- revoke: both directions go at once, so the next decide or watch with the key is refused
if not old then return {'unknown_staff'} end
redis.call('HDEL', staff, 'n:' .. name, 'k:' .. old, 'c:' .. name)
return {'ok'}
