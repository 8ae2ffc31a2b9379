-- Who holds this key: the owner, a named staff key, or nobody.
-- KEYS: profile, staff
-- ARGV: owner_hash, staff_hash
-- Reply: {status, who, biz}; status: ok | unknown_sponsor | unauthorized; who: 'owner' or a name
local stored = redis.call('HGET', KEYS[1], 'owner_hash')
if not stored then return {'unknown_sponsor', '', ''} end
local biz = redis.call('HGET', KEYS[1], 'biz')
if stored == ARGV[1] then return {'ok', 'owner', biz} end
local name = redis.call('HGET', KEYS[2], 'k:' .. ARGV[2])
if not name then return {'unauthorized', '', ''} end
return {'ok', name, biz}
