-- Create a sponsor's profile, first rule and `registered` event, unless the sid exists.
-- KEYS: profile, rule, events
-- ARGV: now_ms, n_profile_fields*2 values..., then rule fields/values
-- Reply: the entry id, or 'exists'
local profile, rule, events = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', profile) == 1 then return 'exists' end
local n = tonumber(ARGV[2])
local prof, rl = {}, {}
for i = 3, 2 + n do prof[#prof + 1] = ARGV[i] end
for i = 3 + n, #ARGV do rl[#rl + 1] = ARGV[i] end
redis.call('HSET', profile, unpack(prof))
redis.call('HSET', rule, unpack(rl))
local p = redis.call('HMGET', profile, 'biz', 'country', 'place_id', 'formatted_address', 'verified')
return redis.call('XADD', events, ARGV[1] .. '-*', 't', 'registered', 'biz', p[1], 'country', p[2],
  'place_id', p[3], 'formatted_address', p[4], 'verified', p[5])
