-- Staff decide on a claim: approve or reject a requested one, void an open one (requested, or
-- an approved voucher still valid), or redeem an approved voucher still valid (once).
-- Rejecting or voiding gives the points back. The key is checked here, on every decision: the
-- owner's, or a staff key not revoked.
-- KEYS: profile, rule, cards, events, claims, staff
-- ARGV: owner_hash, staff_hash, claim_id, decision ('approve' | 'reject' | 'void' | 'redeem'),
--       now_ms
-- Reply: {status, claim_json, who}; status: ok | unknown_sponsor | unauthorized | unknown_claim
--        | already_decided | already_redeemed | not_approved | claim_rejected | claim_void
--        | voucher_expired
local profile, rule, cards, events, claims, staff = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  KEYS[6]
local owner_hash, staff_hash, claim_id, decision, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  tonumber(ARGV[5])

local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return {'unknown_sponsor', '', ''} end
local who = 'owner'
if stored ~= owner_hash then
  who = redis.call('HGET', staff, 'k:' .. staff_hash)
  if not who then return {'unauthorized', '', ''} end
end
local raw = redis.call('HGET', claims, claim_id)
if not raw or string.sub(claim_id, 1, 5) == 'card:' then return {'unknown_claim', '', who} end
local cl = cjson.decode(raw)

if decision == 'redeem' then
  if cl.status == 'redeemed' then return {'already_redeemed', raw, who} end
  if cl.status == 'requested' then return {'not_approved', raw, who} end
  if cl.status == 'rejected' then return {'claim_rejected', raw, who} end
  if cl.status == 'void' then return {'claim_void', raw, who} end
  if cl.expires_at <= now then return {'voucher_expired', raw, who} end
else
  local open = cl.status == 'requested' or (cl.status == 'approved' and cl.expires_at > now)
  if decision == 'void' then
    if not open then return {'already_decided', raw, who} end  -- an expired voucher stays spent
  elseif cl.status ~= 'requested' then
    return {'already_decided', raw, who}
  end
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
local t = (decision == 'void') and 'void' or 'claim'
redis.call('XADD', events, entry_id(events, now), 't', t, 'c', cl.cid, 'id', claim_id,
  's', cl.status, 'p', fmt(delta), 'by', who)
return {'ok', out, who}
