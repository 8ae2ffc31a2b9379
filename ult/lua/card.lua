-- Read one card with what the customer page shows next to it.
-- KEYS: profile, rule, cards, events
-- ARGV: cid
-- Reply: {} for an unknown sponsor, else {biz, rule (flat hash), record or '', entries...}
local profile, rule, cards, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local biz = redis.call('HGET', profile, 'biz')
if not biz then return {} end
local rec = redis.call('HGET', cards, ARGV[1]) or ''
local out = {biz, redis.call('HGETALL', rule), rec}
local recent = string.match(rec, '^[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|[^|]*|(.*)$') or ''
for id in string.gmatch(recent, '[^,]+') do
  local e = redis.call('XRANGE', events, id, id)
  if e[1] then out[#out + 1] = e[1] end
end
return out
