-- Cards ult archive wrote to the lake leave Redis, each with its last claim: only a card whose
-- record is still the one archived (a card that scanned, claimed or was refused meanwhile
-- stays), and never one with a claim still open.
-- KEYS: cards, claims, top, claimed, requested
-- ARGV: now_ms, then per card: cid, packed record as archived
-- Reply: how many cards left
local cards, claims, top, claimed, requested = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, gone = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 2 do
  local cid, record = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', cards, cid) == record then
    local id = redis.call('HGET', claims, 'card:' .. cid)
    local raw = id and redis.call('HGET', claims, id)
    if not (raw and OPEN_CLAIM[claim_state(cjson.decode(raw), now)]) then
      redis.call('HDEL', cards, cid)
      redis.call('ZREM', top, cid)
      if id then
        redis.call('HDEL', claims, id, 'card:' .. cid)
        redis.call('ZREM', claimed, id)
        redis.call('ZREM', requested, id)
      end
      gone = gone + 1
    end
  end
end
return gone
