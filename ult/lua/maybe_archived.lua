-- Whether a card may be in the lake rather than in Redis: the sponsor's cards hash lacks it and
-- the Bloom filter of archived cards (ult archive --trim-days) knows it. Writes nothing.
-- KEYS: cards, archived
-- ARGV: cid
-- Reply: 1 the lake may hold the card, 0 it is in Redis or was never archived
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if maybe_archived(KEYS[2], ARGV[1]) then return 1 end
return 0
