-- Helpers prepended to every script by ult.ops (Redis scripts cannot include each other).

local function fmt(n) return string.format('%.0f', n) end

-- The packed card record: the fields of CARD_RECORD (ult.schema) joined by '|'. Only the
-- scripts read it by position, here.
local function parse_card(rec)
  local c = {visits = 0, points = 0, first_ms = 0, last_ms = 0, day = -1, day_count = 0,
    nonces = '', recent_ids = '', refused_ms = 0, refused_n = 0}
  if rec then
    local i = 0
    for part in string.gmatch(rec .. '|', '([^|]*)|') do
      i = i + 1
      local name = CARD_RECORD[i]
      if name then c[name] = CARD_LISTS[name] and part or tonumber(part) end
    end
  end
  return c
end

local function read_card(cards, cid)
  local rec = redis.call('HGET', cards, cid)
  return parse_card(rec), rec ~= false
end

local function write_card(cards, cid, c)
  local parts = {}
  for i, name in ipairs(CARD_RECORD) do
    parts[i] = CARD_LISTS[name] and c[name] or fmt(c[name])
  end
  redis.call('HSET', cards, cid, table.concat(parts, '|'))
end

-- Append to a comma-separated list, keeping the last `keep` items.
local function push(list, item, keep)
  local items = {}
  for x in string.gmatch(list, '[^,]+') do items[#items + 1] = x end
  items[#items + 1] = item
  while #items > keep do table.remove(items, 1) end
  return table.concat(items, ',')
end

-- The id for a new entry at now_ms: entry ids are event times and never go back (clock skew).
local function entry_id(events, now)
  local ms = now
  local top = redis.call('XREVRANGE', events, '+', '-', 'COUNT', 1)
  if top[1] then
    local top_ms = tonumber(string.match(top[1][1], '^(%d+)'))
    if top_ms > ms then ms = top_ms end
  end
  return fmt(ms) .. '-*'
end

-- The rule's fields in the order of ult.rules.RULE_FIELDS, and the defaults of ult.rules.Rule
-- for a field not stored (tests/test_rules.py checks both against Rule).
local RULE_FIELDS = {'points_per_scan', 'points_needed', 'reward', 'approval', 'cooldown_min',
  'daily_cap', 'expiry_days', 'require_code', 'voucher_min'}
local RULE_DEFAULTS = {'1', '10', '10% off your tab', 'instant', '60', '0', '0', '0', '15'}

-- The rule: its numbers for the scripts, and `values` (strings, defaults filled in) for replies.
local function read_rule(rule)
  local r = redis.call('HMGET', rule, unpack(RULE_FIELDS))
  for i = 1, #RULE_FIELDS do
    if not r[i] then r[i] = RULE_DEFAULTS[i] end
  end
  return {
    pps = tonumber(r[1]), needed = tonumber(r[2]), reward = r[3], approval = r[4],
    cooldown = tonumber(r[5]) * 60000, cap = tonumber(r[6]), expiry = tonumber(r[7]) * 86400000,
    require_code = r[8] == '1', voucher = tonumber(r[9]) * 60000, values = r,
  }
end

-- The card's rules, for the scripts that count (scan, claim) and the one that shows (card).
-- Points lapse after expiry_days without a visit.
local function lapsed(c, rl, now)
  return rl.expiry > 0 and c.last_ms > 0 and c.points > 0 and now - c.last_ms > rl.expiry
end

-- Applies the expiry to the card; logs an `expired` event when points lapse.
local function apply_expiry(events, cid, c, rl, now)
  if lapsed(c, rl, now) then
    redis.call('XADD', events, entry_id(events, now), F.KIND, 'expired', F.CARD, cid,
      F.POINTS, fmt(-c.points))
    c.points = 0
    return true
  end
  return false
end

-- Milliseconds until a scan of the card counts again under the cooldown (<= 0: now).
local function cooldown_left(c, rl, now)
  if rl.cooldown > 0 and c.last_ms > 0 then return c.last_ms + rl.cooldown - now end
  return 0
end

-- A claim's state at `now` (ult.schema.CLAIM_STATES): its status, except that an approved
-- voucher past its time is `expired`. The only place that decides it.
local function claim_state(cl, now)
  if cl.status == 'approved' and cl.expires_at <= now then return 'expired' end
  return cl.status
end

-- The card's last claim: its JSON and its state at `now` ('', '' for none).
local function last_claim(claims, cid, now)
  local id = redis.call('HGET', claims, 'card:' .. cid)
  local raw = id and redis.call('HGET', claims, id)
  if not raw then return '', '' end
  return raw, claim_state(cjson.decode(raw), now)
end

-- The card's place in the sponsor's `top` sorted set (the loyalists view): visits, then the
-- last visit (ult.schema.RANK_MS_SCALE). Kept by every script that changes visits or cards.
-- Only the best TOP_KEPT stay: scores only grow with visits, and a card that left the set
-- comes back with its next counted visit if it then ranks among them.
local function rank_card(top, cid, c)
  local added = redis.call('ZADD', top, c.visits + c.last_ms / RANK_MS_SCALE, cid)
  if added == 1 and redis.call('ZCARD', top) > TOP_KEPT then
    redis.call('ZREMRANGEBYRANK', top, 0, 0)
  end
end

-- Whether the unknown card `cid` may have been moved to the lake: all its bits are set in the
-- sponsor's Bloom filter of archived cards (ult.schema.ARCHIVED_HASHES; false: surely new).
local function maybe_archived(filter, cid)
  local bits = redis.call('STRLEN', filter) * 8
  if bits == 0 then return false end
  local h1 = tonumber(string.sub(cid, 1, 8), 16)
  local h2 = tonumber(string.sub(cid, 9, 16), 16)
  if not h1 or not h2 then return false end
  if h2 % 2 == 0 then h2 = h2 + 1 end
  for i = 0, ARCHIVED_HASHES - 1 do
    if redis.call('GETBIT', filter, (h1 + i * h2) % bits) == 0 then return false end
  end
  return true
end

-- A claim in the sponsor's claim indexes: `claimed` by creation time (the claims list reads a
-- page of it), `requested` while it waits for staff.
local function index_claim(claimed, requested, cl)
  redis.call('ZADD', claimed, cl.created_ms, cl.id)
  if cl.status == 'requested' then
    redis.call('ZADD', requested, cl.created_ms, cl.id)
  else
    redis.call('ZREM', requested, cl.id)
  end
end

-- Claims stored before the indexes existed are indexed all at once, the first time.
local function index_claims(claims, claimed, requested)
  if redis.call('EXISTS', claimed) == 1 or redis.call('EXISTS', claims) == 0 then return end
  local flat = redis.call('HGETALL', claims)
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 5) ~= 'card:' then
      index_claim(claimed, requested, cjson.decode(flat[i + 1]))
    end
  end
end
