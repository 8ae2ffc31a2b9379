-- The sponsor's most frequent cards, from the top of the `top` sorted set (lib.lua:
-- rank_card): the work follows `count`, not the number of cards.
-- KEYS: cards, top
-- ARGV: count
-- Reply: {cid, packed record, ...}: LOYALISTS_REPLY per card, best first
local cards, top, count = KEYS[1], KEYS[2], tonumber(ARGV[1])
-- the index is rebuilt from every card when it lacks some of its best: cards stored before it
-- existed, or after `ult archive` moved ranked cards to the lake
if redis.call('ZCARD', top) < math.min(redis.call('HLEN', cards), TOP_KEPT) then
  redis.call('DEL', top)
  local flat = redis.call('HGETALL', cards)
  for i = 1, #flat, 2 do rank_card(top, flat[i], parse_card(flat[i + 1])) end
end
local ids = redis.call('ZREVRANGE', top, 0, count - 1)
local out = {}
if #ids == 0 then return out end
local recs = redis.call('HMGET', cards, unpack(ids))
for i = 1, #ids do
  if recs[i] then out[#out + 1] = ids[i]; out[#out + 1] = recs[i] end
end
return out
