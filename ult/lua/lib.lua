-- Helpers prepended to every script by ult.ops (Redis scripts cannot include each other).

-- The packed card record: visits|points|first_ms|last_ms|day|day_count|nonces|recent_ids
local function read_card(cards, cid)
  local c = {visits = 0, points = 0, first = 0, last = 0, day = -1, dayn = 0, nonces = '', recent = ''}
  local rec = redis.call('HGET', cards, cid)
  if rec then
    local f = {}
    for part in string.gmatch(rec .. '|', '([^|]*)|') do f[#f + 1] = part end
    c.visits, c.points, c.first, c.last = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
    c.day, c.dayn, c.nonces, c.recent = tonumber(f[5]), tonumber(f[6]), f[7] or '', f[8] or ''
  end
  return c, rec ~= false
end

local function fmt(n) return string.format('%.0f', n) end

local function write_card(cards, cid, c)
  redis.call('HSET', cards, cid, table.concat({c.visits, c.points, fmt(c.first), fmt(c.last),
    fmt(c.day), c.dayn, c.nonces, c.recent}, '|'))
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

-- Points lapse after expiry_days without a visit; logs an `expired` event when they do.
local function apply_expiry(events, cid, c, rl, now)
  if rl.expiry > 0 and c.last > 0 and c.points > 0 and now - c.last > rl.expiry then
    redis.call('XADD', events, entry_id(events, now), 't', 'expired', 'c', cid, 'p', fmt(-c.points))
    c.points = 0
    return true
  end
  return false
end
