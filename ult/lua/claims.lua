-- All claims of a sponsor, each with its state at now_ms (lib.lua: claim_state).
-- KEYS: claims
-- ARGV: now_ms
-- Reply: {claim json, state, claim json, state, ...}: CLAIMS_REPLY per claim (ult.schema)
local now, R = tonumber(ARGV[1]), CLAIMS_REPLY
local flat = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #flat, 2 do
  if string.sub(flat[i], 1, 5) ~= 'card:' then
    local raw, n = flat[i + 1], #out
    out[n + R.claim], out[n + R.state] = raw, claim_state(cjson.decode(raw), now)
  end
end
return out
