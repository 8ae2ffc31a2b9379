-- Claims made before `cutoff_ms` and decided leave Redis (their events are in the stream and
-- the lake); a claim still open stays. One page of the oldest at a time.
-- KEYS: claims, claimed, requested
-- ARGV: cutoff_ms, now_ms, offset (open claims already passed), page size
-- Reply: {claims removed, claims looked at}
local claims, claimed, requested = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[2])
index_claims(claims, claimed, requested)
local ids = redis.call('ZRANGEBYSCORE', claimed, '-inf', '(' .. ARGV[1], 'LIMIT', ARGV[3], ARGV[4])
local gone = 0
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', claims, id)
  local cl = raw and cjson.decode(raw)
  if not (cl and OPEN_CLAIM[claim_state(cl, now)]) then
    if cl and redis.call('HGET', claims, 'card:' .. cl.cid) == id then
      redis.call('HDEL', claims, 'card:' .. cl.cid)
    end
    redis.call('HDEL', claims, id)
    redis.call('ZREM', claimed, id)
    redis.call('ZREM', requested, id)
    gone = gone + 1
  end
end
return {gone, #ids}
