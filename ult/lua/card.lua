-- Read one card with what the customer page shows next to it.
-- KEYS: profile, rule, cards, events, claims
-- ARGV: cid
-- Reply: {} for an unknown sponsor, else {biz, rule (flat hash), record or '', last claim json
--        or '', promo_plan or '', entries of the recent visits...}
local profile, rule, cards, events, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local p = redis.call('HMGET', profile, 'biz', 'promo_plan')
local biz = p[1]
if not biz then return {} end
local c = read_card(cards, ARGV[1])
local rec = redis.call('HGET', cards, ARGV[1]) or ''
local claim_id = redis.call('HGET', claims, 'card:' .. ARGV[1])
local claim = claim_id and redis.call('HGET', claims, claim_id) or ''
local out = {biz, redis.call('HGETALL', rule), rec, claim, p[2] or ''}
for id in string.gmatch(c.recent, '[^,]+') do
  local e = redis.call('XRANGE', events, id, id)
  if e[1] then out[#out + 1] = e[1] end
end
return out
