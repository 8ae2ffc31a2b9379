-- A page of a sponsor's claims, each with its state at now_ms (lib.lua: claim_state): every
-- claim waiting for staff, and the newest `limit` others; the work follows the page, not the
-- history.
-- KEYS: claims, claimed, requested
-- ARGV: now_ms, limit
-- Reply: {claim json, state, claim json, state, ...}: CLAIMS_REPLY per claim (ult.schema)
local claims, claimed, requested = KEYS[1], KEYS[2], KEYS[3]
local now, limit, R = tonumber(ARGV[1]), tonumber(ARGV[2]), CLAIMS_REPLY
index_claims(claims, claimed, requested)
local ids, seen = redis.call('ZRANGE', requested, 0, -1), {}
for _, id in ipairs(ids) do seen[id] = true end
-- the newest `limit` claims besides the waiting ones
for _, id in ipairs(redis.call('ZREVRANGE', claimed, 0, limit + #ids - 1)) do
  if not seen[id] then ids[#ids + 1] = id end
end
local out = {}
if #ids == 0 then return out end
local raws = redis.call('HMGET', claims, unpack(ids))
for i = 1, #ids do
  local raw, n = raws[i], #out
  if raw then out[n + R.claim], out[n + R.state] = raw, claim_state(cjson.decode(raw), now) end
end
return out
