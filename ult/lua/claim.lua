-- A customer claims the reward: points are deducted atomically, at most one open claim per card.
-- KEYS: profile, rule, cards, events, claims
-- ARGV: cid, now_ms, claim_id, short_code
-- Reply: {status, claim_json, points, points_needed}; status: ok | existing | not_enough_points
--        | unknown_sponsor
local profile, rule, cards, events, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, now, claim_id, code = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local biz = redis.call('HGET', profile, 'biz')
if not biz then return {'unknown_sponsor', '', 0, 0} end
local rl = read_rule(rule)
local c = read_card(cards, cid)
if apply_expiry(events, cid, c, rl, now) then write_card(cards, cid, c) end

-- A second tap (or a second phone with the same key) gets the claim already open.
local open_id = redis.call('HGET', claims, 'card:' .. cid)
if open_id then
  local open = redis.call('HGET', claims, open_id)
  local cl = cjson.decode(open)
  if cl.status == 'requested' or (cl.status == 'approved' and cl.expires_at > now) then
    return {'existing', open, c.points, rl.needed}
  end
end
if c.points < rl.needed then return {'not_enough_points', '', c.points, rl.needed} end

c.points = c.points - rl.needed
write_card(cards, cid, c)
local status, expires = 'requested', 0
if rl.approval == 'instant' then status, expires = 'approved', now + rl.voucher end
local claim = cjson.encode({id = claim_id, cid = cid, biz = biz, status = status, reward = rl.reward,
  points = rl.needed, code = code, created_ms = now, expires_at = expires, voucher_ms = rl.voucher})
redis.call('HSET', claims, claim_id, claim, 'card:' .. cid, claim_id)
redis.call('XADD', events, entry_id(events, now), 't', 'claim', 'c', cid, 'id', claim_id,
  's', status, 'p', fmt(-rl.needed))
return {'ok', claim, c.points, rl.needed}
