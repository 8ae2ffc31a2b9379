-- Change a sponsor's promotions (or its time zone) after checking the owner key, and log it.
-- KEYS: profile, promos, events
-- ARGV: owner_hash, now_ms, promo_ver read, action (add | delete | tz), promo id, event json,
--   compiled plan ('' for none), tz, promotion json (add)
-- Reply: 'ok' | 'unknown_sponsor' | 'unauthorized' | 'stale' (the promotions changed since
--   they were read: read them again)
local profile, promos, events = KEYS[1], KEYS[2], KEYS[3]
local p = redis.call('HMGET', profile, 'owner_hash', 'promo_ver')
if not p[1] then return 'unknown_sponsor' end
if p[1] ~= ARGV[1] then return 'unauthorized' end
if (p[2] or '0') ~= ARGV[3] then return 'stale' end
local action, id = ARGV[4], ARGV[5]
if action == 'add' then redis.call('HSET', promos, id, ARGV[9]) end
if action == 'delete' then redis.call('HDEL', promos, id) end
redis.call('HSET', profile, 'promo_plan', ARGV[7], 'tz', ARGV[8])
redis.call('HINCRBY', profile, 'promo_ver', 1)
redis.call('XADD', events, entry_id(events, tonumber(ARGV[2])), F.KIND, 'promo', F.STATUS, action,
  F.PROMOTION, ARGV[6])
return 'ok'
