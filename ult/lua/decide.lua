-- Staff decide on a claim: approve or reject a requested one, void an open one (requested, or
-- an approved voucher still valid), or redeem an approved voucher still valid (once).
-- Rejecting or voiding gives the points back. The key is checked here, on every decision: the
-- owner's, or a staff key not revoked.
-- KEYS: profile, rule, cards, events, claims, staff, claimed, requested
-- ARGV: owner_hash, staff_hash, claim_id, decision ('approve' | 'reject' | 'void' | 'redeem'),
--       now_ms
-- Reply: DECIDE_REPLY (ult.schema): {status, claim_json, who, the claim's state after it};
--        status: ok | unknown_sponsor | unauthorized | unknown_claim | already_decided
--        | already_redeemed | not_approved | claim_rejected | claim_void | voucher_expired
local profile, rule, cards, events, claims, staff = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  KEYS[6]
local claimed, requested = KEYS[7], KEYS[8]
local owner_hash, staff_hash, claim_id, decision, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  tonumber(ARGV[5])

local function reply(status, claim, who, state)
  local R = DECIDE_REPLY
  return {[R.status] = status, [R.claim] = claim or '', [R.who] = who or '', [R.state] = state or ''}
end
-- Why a voucher cannot be redeemed, by the claim's state.
local NOT_REDEEMABLE = {redeemed = 'already_redeemed', requested = 'not_approved',
  rejected = 'claim_rejected', void = 'claim_void', expired = 'voucher_expired'}

local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return reply('unknown_sponsor') end
local who = 'owner'
if stored ~= owner_hash then
  who = redis.call('HGET', staff, 'k:' .. staff_hash)
  if not who then return reply('unauthorized') end
end
local raw = redis.call('HGET', claims, claim_id)
if not raw or string.sub(claim_id, 1, 5) == 'card:' then return reply('unknown_claim', '', who) end
local cl = cjson.decode(raw)
local state = claim_state(cl, now)

if decision == 'redeem' then
  if state ~= 'approved' then return reply(NOT_REDEEMABLE[state], raw, who, state) end
elseif decision == 'void' then
  -- an expired voucher stays spent
  if not OPEN_CLAIM[state] then return reply('already_decided', raw, who, state) end
elseif state ~= 'requested' then
  return reply('already_decided', raw, who, state)
end

local delta = 0
if decision == 'redeem' then
  cl.status, cl.redeemed_ms = 'redeemed', now
elseif decision == 'approve' then
  cl.status, cl.expires_at = 'approved', now + cl.voucher_ms
else
  cl.status = (decision == 'reject') and 'rejected' or 'void'
  local c = read_card(cards, cl.cid)
  c.points = c.points + cl.points
  write_card(cards, cl.cid, c)
  delta = cl.points
end
if decision ~= 'redeem' then cl.decided_ms = now end
cl.by = who
local out = cjson.encode(cl)
redis.call('HSET', claims, claim_id, out)
index_claim(claimed, requested, cl)
local t = (decision == 'void') and 'void' or 'claim'
redis.call('XADD', events, entry_id(events, now), F.KIND, t, F.CARD, cl.cid, F.CLAIM, claim_id,
  F.STATUS, cl.status, F.POINTS, fmt(delta), F.BY, who)
return reply('ok', out, who, claim_state(cl, now))
