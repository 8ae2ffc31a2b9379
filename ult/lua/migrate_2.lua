-- Schema 1 → 2 for one sponsor (ult migrate): the indexes schema 2 reads, rebuilt from the
-- hashes they index. Safe to repeat. Card records of schema 1 lack refused_ms and refused_n:
-- parse_card reads them as 0, so they stay as they are.
-- KEYS: cards, claims, top, claimed, requested
-- Reply: {cards ranked, claims indexed}
local cards, claims, top, claimed, requested = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
redis.call('DEL', top, claimed, requested)
local flat = redis.call('HGETALL', cards)
for i = 1, #flat, 2 do rank_card(top, flat[i], parse_card(flat[i + 1])) end
index_claims(claims, claimed, requested)
return {#flat / 2, redis.call('ZCARD', claimed)}
