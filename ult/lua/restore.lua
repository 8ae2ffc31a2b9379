-- A card back from the lake (ult archive moved it there after it stayed away): its record and
-- its last claim, unless the card is in Redis again already (a concurrent restore).
-- KEYS: cards, claims, top, claimed, requested
-- ARGV: cid, packed record, last claim id ('' for none), its JSON
-- Reply: 1 restored, 0 the card was there
local cards, claims, top, claimed, requested = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local cid, record, claim_id, claim = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HSETNX', cards, cid, record) == 0 then return 0 end
rank_card(top, cid, parse_card(record))
if claim_id ~= '' and redis.call('HEXISTS', claims, 'card:' .. cid) == 0 then
  index_claims(claims, claimed, requested)
  redis.call('HSET', claims, claim_id, claim, 'card:' .. cid, claim_id)
  index_claim(claimed, requested, cjson.decode(claim))
end
return 1
