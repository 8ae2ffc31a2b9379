-- One customer scan, atomically (DESIGN §5).
-- KEYS: profile, rule, cards, events
-- ARGV: cid, nonce ('' for none), tag ('' for none), now_ms, code_state ('ok' | 'none' | 'bad')
-- Reply: {status, visits, points, next_in_ms, entry_id, biz, points_needed, reward}
-- status: ok | duplicate | unknown_sponsor | cooldown | daily_cap | code_required | code_invalid
local profile, rule, cards, events = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cid, nonce, tag, now, code_state = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local DAY = 86400000
local MAX_NONCES, MAX_RECENT = 4, 10

local p = redis.call('HMGET', profile, 'biz', 'utc_offset_min')
if not p[1] then return {'unknown_sponsor'} end
local biz, offset = p[1], tonumber(p[2] or '0') * 60000

local r = redis.call('HMGET', rule, 'points_per_scan', 'cooldown_min', 'daily_cap', 'expiry_days',
  'require_code', 'points_needed', 'reward')
local pps, cooldown, cap = tonumber(r[1] or '1'), tonumber(r[2] or '0') * 60000, tonumber(r[3] or '0')
local expiry, require_code = tonumber(r[4] or '0') * DAY, r[5] == '1'
local needed, reward = r[6] or '0', r[7] or ''

local visits, points, first, last, day, dayn, nonces, recent = 0, 0, 0, 0, -1, 0, '', ''
local rec = redis.call('HGET', cards, cid)
if rec then
  local f = {}
  for part in string.gmatch(rec .. '|', '([^|]*)|') do f[#f + 1] = part end
  visits, points, first, last = tonumber(f[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
  day, dayn, nonces, recent = tonumber(f[5]), tonumber(f[6]), f[7] or '', f[8] or ''
end

local function fmt(n) return string.format('%.0f', n) end
local function reply(status, next_in, id)
  return {status, visits, points, fmt(math.max(next_in or 0, 0)), id or '', biz, needed, reward}
end
local function cooldown_left()
  if cooldown > 0 and last > 0 then return last + cooldown - now end
  return 0
end

-- A retried scan (same nonce) is answered again, never counted twice.
if nonce ~= '' then
  for n in string.gmatch(nonces, '[^,]+') do
    if n == nonce then return reply('duplicate', cooldown_left()) end
  end
end

-- Entry ids double as event times; never go below the stream's last id (clock skew).
local ms = now
local top = redis.call('XREVRANGE', events, '+', '-', 'COUNT', 1)
if top[1] then
  local top_ms = tonumber(string.match(top[1][1], '^(%d+)'))
  if top_ms > ms then ms = top_ms end
end
local entry_id = fmt(ms) .. '-*'

local function refuse(reason, next_in)
  local id = redis.call('XADD', events, entry_id, 't', 'refused', 'c', cid, 'r', reason)
  return reply(reason, next_in, id)
end

if require_code and code_state ~= 'ok' then
  if code_state == 'bad' then return refuse('code_invalid', 0) end
  return refuse('code_required', 0)
end
if expiry > 0 and last > 0 and points > 0 and now - last > expiry then
  redis.call('XADD', events, entry_id, 't', 'expired', 'c', cid, 'p', fmt(-points))
  points = 0
end
if cooldown_left() > 0 then return refuse('cooldown', cooldown_left()) end
local today = math.floor((now + offset) / DAY)
if today ~= day then dayn = 0 end
if cap > 0 and dayn >= cap then return refuse('daily_cap', (today + 1) * DAY - offset - now) end

visits, points, dayn, day, last = visits + 1, points + pps, dayn + 1, today, now
if first == 0 then first = now end
local id
if tag ~= '' then
  id = redis.call('XADD', events, entry_id, 't', 'scan', 'c', cid, 'v', visits, 'p', pps, 'a', tag)
else
  id = redis.call('XADD', events, entry_id, 't', 'scan', 'c', cid, 'v', visits, 'p', pps)
end

local function push(list, item, keep)
  local items = {}
  for x in string.gmatch(list, '[^,]+') do items[#items + 1] = x end
  items[#items + 1] = item
  while #items > keep do table.remove(items, 1) end
  return table.concat(items, ',')
end
if nonce ~= '' then nonces = push(nonces, nonce, MAX_NONCES) end
recent = push(recent, id, MAX_RECENT)
redis.call('HSET', cards, cid, table.concat({visits, points, fmt(first), fmt(last), fmt(day), dayn,
  nonces, recent}, '|'))
return reply('ok', cooldown_left(), id)
