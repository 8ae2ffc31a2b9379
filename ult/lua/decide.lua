-- Staff decide on a claim: approve or reject a requested one, or void an open one (requested,
-- or an approved voucher still valid).
-- Rejecting or voiding gives the points back. Owner key checked here.
-- KEYS: profile, rule, cards, events, claims
-- ARGV: owner_hash, claim_id, decision ('approve' | 'reject' | 'void'), now_ms
-- Reply: {status, claim_json}; status: ok | unknown_sponsor | unauthorized | unknown_claim
--        | already_decided
local profile, rule, cards, events, claims = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local owner_hash, claim_id, decision, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return {'unknown_sponsor', ''} end
if stored ~= owner_hash then return {'unauthorized', ''} end
local raw = redis.call('HGET', claims, claim_id)
if not raw or string.sub(claim_id, 1, 5) == 'card:' then return {'unknown_claim', ''} end
local cl = cjson.decode(raw)

local open = cl.status == 'requested' or (cl.status == 'approved' and cl.expires_at > now)
if decision == 'void' then
  if not open then return {'already_decided', raw} end  -- an expired voucher stays spent
elseif cl.status ~= 'requested' then
  return {'already_decided', raw}
end

local delta = 0
if decision == 'approve' then
  cl.status, cl.expires_at = 'approved', now + cl.voucher_ms
else
  cl.status = (decision == 'reject') and 'rejected' or 'void'
  local c = read_card(cards, cl.cid)
  c.points = c.points + cl.points
  write_card(cards, cl.cid, c)
  delta = cl.points
end
cl.decided_ms = now
local out = cjson.encode(cl)
redis.call('HSET', claims, claim_id, out)
local t = (decision == 'void') and 'void' or 'claim'
redis.call('XADD', events, entry_id(events, now), 't', t, 'c', cl.cid, 'id', claim_id,
  's', cl.status, 'p', fmt(delta))
return {'ok', out}
