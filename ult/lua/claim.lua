-- A customer claims the reward: points are deducted atomically, at most one open claim per card.
-- KEYS: profile, rule, cards, events, claims, claimed, requested
-- ARGV: cid, now_ms, claim_id, short_code
-- Reply: CLAIM_REPLY (ult.schema): {status, claim_json, points, points_needed, claim state};
--        status: ok | existing | not_enough_points | unknown_sponsor
local profile, rule, cards, events, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local claimed, requested = KEYS[6], KEYS[7]
local cid, now, claim_id, code = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local biz = redis.call('HGET', profile, 'biz')
local function reply(status, claim, points, needed, state)
  local R = CLAIM_REPLY
  return {[R.status] = status, [R.claim] = claim, [R.points] = points, [R.points_needed] = needed,
    [R.state] = state}
end
if not biz then return reply('unknown_sponsor', '', 0, 0, '') end
local rl = read_rule(rule)
local c = read_card(cards, cid)
if apply_expiry(events, cid, c, rl, now) then write_card(cards, cid, c) end

-- A second tap (or a second phone with the same key) gets the claim already open.
local last, last_state = last_claim(claims, cid, now)
if OPEN_CLAIM[last_state] then return reply('existing', last, c.points, rl.needed, last_state) end
if c.points < rl.needed then return reply('not_enough_points', '', c.points, rl.needed, '') end

c.points = c.points - rl.needed
write_card(cards, cid, c)
local status, expires = 'requested', 0
if rl.approval == 'instant' then status, expires = 'approved', now + rl.voucher end
local cl = {id = claim_id, cid = cid, biz = biz, status = status, reward = rl.reward,
  points = rl.needed, code = code, created_ms = now, expires_at = expires, voucher_ms = rl.voucher}
local claim = cjson.encode(cl)
index_claims(claims, claimed, requested)
redis.call('HSET', claims, claim_id, claim, 'card:' .. cid, claim_id)
index_claim(claimed, requested, cl)
redis.call('XADD', events, entry_id(events, now), F.KIND, 'claim', F.CARD, cid, F.CLAIM, claim_id,
  F.STATUS, status, F.POINTS, fmt(-rl.needed))
return reply('ok', claim, c.points, rl.needed, claim_state(cl, now))
