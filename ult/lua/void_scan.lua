-- The sponsor voids a scan (e.g. counted by mistake): its visit and points are taken back once.
-- KEYS: profile, cards, events, voided, top
-- ARGV: owner_hash, entry_id, now_ms
-- Reply: status: ok | unknown_sponsor | unauthorized | unknown_scan | already_void
local profile, cards, events, voided, top = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local owner_hash, target, now = ARGV[1], ARGV[2], tonumber(ARGV[3])

local stored = redis.call('HGET', profile, 'owner_hash')
if not stored then return 'unknown_sponsor' end
if stored ~= owner_hash then return 'unauthorized' end
local found = redis.call('XRANGE', events, target, target)
if not found[1] then return 'unknown_scan' end
local f = {}
for i = 1, #found[1][2], 2 do f[found[1][2][i]] = found[1][2][i + 1] end
if f[F.KIND] ~= 'scan' then return 'unknown_scan' end
local cid = f[F.CARD]
local c, known = read_card(cards, cid)
if not known then return 'unknown_scan' end  -- its card went to the lake
if redis.call('SADD', voided, target) == 0 then return 'already_void' end

local take = math.min(tonumber(f[F.POINTS]), c.points)
c.visits, c.points = math.max(c.visits - 1, 0), c.points - take
write_card(cards, cid, c)
rank_card(top, cid, c)
redis.call('XADD', events, entry_id(events, now), F.KIND, 'void', F.CARD, cid, F.REF, target,
  F.POINTS, fmt(-take), F.VISIT, '-1')
return 'ok'
