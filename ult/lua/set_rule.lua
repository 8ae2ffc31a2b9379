-- Replace a sponsor's rule after checking the owner key, and log it.
-- KEYS: profile, rule, events
-- ARGV: owner_hash, now_ms, rule_json, field1, value1, field2, value2, ...
-- Reply: 'ok' | 'unknown_sponsor' | 'unauthorized'
local profile, rule, events = KEYS[1], KEYS[2], KEYS[3]
local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return 'unknown_sponsor' end
if stored ~= ARGV[1] then return 'unauthorized' end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('DEL', rule)
redis.call('HSET', rule, unpack(fields))
redis.call('XADD', events, entry_id(events, tonumber(ARGV[2])), F.KIND, 'rule', F.RULE, ARGV[3])
return 'ok'
