-- Read one card as the customer page shows it, under the card's rules (lib.lua), writing
-- nothing: points after expiry, the time until a scan counts again, the last claim's state.
-- KEYS: profile, rule, cards, events, claims
-- ARGV: cid, now_ms
-- Reply: CARD_REPLY (ult.schema): {status, biz, rule values, visits, points, next_in_ms,
--   last claim json or '', its state or '', promo_plan or '', {entries of the recent visits}};
--   {'unknown_sponsor'} for an unknown sponsor.
local profile, rule, cards, events, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, now = ARGV[1], tonumber(ARGV[2])
local p = redis.call('HMGET', profile, 'biz', 'promo_plan')
if not p[1] then return {'unknown_sponsor'} end
local rl = read_rule(rule)
local c = read_card(cards, cid)
local history = {}
for id in string.gmatch(c.recent_ids, '[^,]+') do
  local e = redis.call('XRANGE', events, id, id)
  if e[1] then history[#history + 1] = e[1] end
end
local claim, state = last_claim(claims, cid, now)
local R = CARD_REPLY
return {[R.status] = 'ok', [R.biz] = p[1], [R.rule] = rl.values, [R.visits] = c.visits,
  [R.points] = lapsed(c, rl, now) and 0 or c.points,
  [R.next_in_ms] = fmt(math.max(cooldown_left(c, rl, now), 0)), [R.claim] = claim,
  [R.claim_state] = state, [R.promo_plan] = p[2] or '', [R.history] = history}
