-- Customer scans, each atomically: the checks, the XADD and the card record in one step.
-- The script takes any number of scans at once (the service sends the scans of one event-loop
-- tick as one call): KEYS and ARGV are the concatenation of each scan's own.
-- KEYS (per scan): profile, rule, cards, events, watched, claims, top, archived
-- ARGV (per scan): cid, nonce ('' for none), tag ('' for none), now_ms, code_state
--   ('ok' | 'none' | 'bad'), new_ok ('0': refuse to start a card this scan would create,
--   writing nothing), lake_checked ('1': the lake was looked up for this card already)
-- Reply: one list per scan (ult.schema.SCAN_REPLY): {status, visits, points, next_in_ms,
--   entry_id, biz, watched, claim json or '', rule values, created}, everything the customer's
--   page shows after a scan (created: 1 when this scan started the card), then promo_plan (the
--   profile's compiled promotions, '' for none), the id of the promotion that multiplied this
--   scan ('' for none), the points this scan gave and the claim's state; or an error reply for
--   a scan that failed (the others still count).
-- status: ok | duplicate | unknown_sponsor | cooldown | daily_cap | code_required | code_invalid
--   | too_many_new_cards | archived (an unknown card the Bloom filter of archived cards knows:
--   nothing written; the caller restores it from the lake, or not, and scans with lake_checked)
local DAY, MAX_NONCES, MAX_RECENT = 86400000, 4, 10
local N_KEYS, N_ARGS = 8, 7

-- The multiplier (in hundredths) of the promotion running at `now`, and its id: the largest
-- multiplier wins. The plan's first line is made for this (ult.promotions.plan.compile_plan):
-- "<from_ms> <utc offset min> ...;<id> <m100> <start_ms> <end_ms>;<id> <m100> w<days> <from> <to>"
-- (the zone's UTC offsets, then one-off windows and local weekday hours, days as bits from
-- Monday); matched with patterns, as decoding JSON would cost more than the whole scan.
local function promotion(plan, now)
  local offsets, promos = string.match(plan, '^([^;\n]*)([^\n]*)')
  local off
  for t, o in string.gmatch(offsets, '(%d+) (%-?%d+)') do
    if off == nil or tonumber(t) <= now then off = tonumber(o) else break end
  end
  local loc = now + (off or 0) * 60000
  local lday = math.floor(loc / DAY)
  local mins = math.floor((loc - lday * DAY) / 60000)
  local wd, prev = (lday + 3) % 7, (lday + 2) % 7  -- 0 = Monday (1970-01-01 was a Thursday)
  local best, best_id = 100, ''
  for id, m, a, b, c in string.gmatch(promos, ';(%w+) (%d+) (w?%d+) (%d+) ?(%d*)') do
    local on
    if c ~= '' then  -- weekly hours: a = 'w' .. day bits, b = from, c = to (minutes)
      local days, from, to = tonumber(string.sub(a, 2)), tonumber(b), tonumber(c)
      local today, yday = math.floor(days / 2 ^ wd) % 2 == 1, math.floor(days / 2 ^ prev) % 2 == 1
      if from < to then on = today and mins >= from and mins < to
      else on = (today and mins >= from) or (yday and mins < to) end
    else
      on = now >= tonumber(a) and now < tonumber(b)
    end
    m = tonumber(m)
    if on and (best_id == '' or m > best) then best, best_id = m, id end
  end
  return best, best_id
end

local function scan(profile, rule, cards, events, watched, claims, top, archived, cid, nonce, tag,
    now, code_state, new_ok, lake_checked)
  local p = redis.call('HMGET', profile, 'biz', 'utc_offset_min', 'promo_plan')
  if not p[1] then return {'unknown_sponsor'} end
  local biz, offset = p[1], tonumber(p[2] or '0') * 60000
  local rl = read_rule(rule)
  local c, known = read_card(cards, cid)
  if not known and lake_checked ~= '1' and maybe_archived(archived, cid) then return {'archived'} end
  if not known and new_ok == '0' then return {'too_many_new_cards'} end

  local plan, promo_id, gained = p[3] or '', '', 0
  local function reply(status, next_in, id)
    local claim, state = last_claim(claims, cid, now)
    local R = SCAN_REPLY
    return {[R.status] = status, [R.visits] = c.visits, [R.points] = c.points,
      [R.next_in_ms] = fmt(math.max(next_in or 0, 0)), [R.entry_id] = id or '', [R.biz] = biz,
      [R.watched] = redis.call('EXISTS', watched), [R.claim] = claim, [R.rule] = rl.values,
      [R.created] = known and 0 or 1, [R.promo_plan] = plan, [R.promo] = promo_id,
      [R.gained] = gained, [R.claim_state] = state}
  end

  -- A retried scan (same nonce) is answered again, never counted twice.
  if nonce ~= '' then
    for n in string.gmatch(c.nonces, '[^,]+') do
      if n == nonce then return reply('duplicate', cooldown_left(c, rl, now)) end
    end
  end

  -- A returning card writes one `refused` entry per REFUSAL_EVERY_MS at most: the refusals in
  -- between are counted in its record, and its next entry stands for them too (F.COUNT), so a
  -- flood of refused scans costs Redis a bounded amount. A new card's refusal (a missing code)
  -- writes its entry: the service charges it to the address's new-card budget.
  local function refuse(reason, next_in)
    local fields = {F.KIND, 'refused', F.CARD, cid, F.REASON, reason}
    if known then
      if c.refused_ms > 0 and now - c.refused_ms < REFUSAL_EVERY_MS and now >= c.refused_ms then
        c.refused_n = c.refused_n + 1
        write_card(cards, cid, c)
        return reply(reason, next_in, '')
      end
      if c.refused_n > 0 then
        fields[#fields + 1] = F.COUNT; fields[#fields + 1] = fmt(c.refused_n + 1)
      end
      c.refused_ms, c.refused_n = now, 0
      write_card(cards, cid, c)
    end
    local id = redis.call('XADD', events, entry_id(events, now), unpack(fields))
    return reply(reason, next_in, id)
  end

  if rl.require_code and code_state ~= 'ok' then
    if code_state == 'bad' then return refuse('code_invalid', 0) end
    return refuse('code_required', 0)
  end
  if apply_expiry(events, cid, c, rl, now) then write_card(cards, cid, c) end
  local wait = cooldown_left(c, rl, now)
  if wait > 0 then return refuse('cooldown', wait) end
  local today = math.floor((now + offset) / DAY)
  if today ~= c.day then c.day_count = 0 end
  if rl.cap > 0 and c.day_count >= rl.cap then return refuse('daily_cap', (today + 1) * DAY - offset - now) end

  gained = rl.pps
  if plan ~= '' then
    local m
    m, promo_id = promotion(plan, now)
    if promo_id ~= '' then gained = math.max(1, math.floor((rl.pps * m + 50) / 100)) end
  end
  c.visits, c.points, c.day, c.last_ms = c.visits + 1, c.points + gained, today, now
  c.day_count = c.day_count + 1
  if c.first_ms == 0 then c.first_ms = now end
  local fields = {F.KIND, 'scan', F.CARD, cid, F.VISIT, c.visits, F.POINTS, gained}
  if tag ~= '' then fields[#fields + 1] = F.TAG; fields[#fields + 1] = tag end
  if promo_id ~= '' then fields[#fields + 1] = F.PROMO; fields[#fields + 1] = promo_id end
  local id = redis.call('XADD', events, entry_id(events, now), unpack(fields))
  if nonce ~= '' then c.nonces = push(c.nonces, nonce, MAX_NONCES) end
  c.recent_ids = push(c.recent_ids, id, MAX_RECENT)
  write_card(cards, cid, c)
  rank_card(top, cid, c)
  return reply('ok', cooldown_left(c, rl, now), id)
end

local out = {}
for i = 0, #KEYS / N_KEYS - 1 do
  local k, a = i * N_KEYS, i * N_ARGS
  local ok, res = pcall(scan, KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5],
    KEYS[k + 6], KEYS[k + 7], KEYS[k + 8], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3],
    tonumber(ARGV[a + 4]), ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
  if ok then
    out[#out + 1] = res
  elseif type(res) == 'table' then  -- an error of a Redis command (e.g. OOM): that scan's answer
    out[#out + 1] = res
  else
    out[#out + 1] = redis.error_reply(tostring(res))
  end
end
return out
