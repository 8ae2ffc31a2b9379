// The wallet: this phone's cards with live balances, and moving them to another phone.
import { CodeError, exportCode, importCode, loadCards, rememberBalance, StorageError } from "./cards.js";
import { ClaimBox } from "./claim.js";
import {
  connect, count, dateText, el, friendlyError, own, progress, registerServiceWorker, relativeWait, request,
  LANG, say,
} from "./common.js";
import { showPassButtons, walletKinds } from "./passes.js";
import { promotionLines } from "./promos.js";

const $ = (id) => document.getElementById(id);
const live = new Map(); // sid → latest `card` answer in this page load
const claims = new Map(); // sid → ClaimBox (kept across renders: it holds the claim's state)
let socket = null;

function historyItem(entry) {
  const li = el("li");
  const when = Number.isFinite(entry.at_ms) ? new Date(entry.at_ms) : null;
  const what = say("visit"); // a card's history lists its recent visits
  const pts = Number(entry.points) || 0;
  li.append(el("span", "history-what", entry.tag ? [`${what} · `, own(entry.tag)] : what));
  if (pts) li.append(el("span", "history-points", `${pts > 0 ? "+" : ""}${count("points", pts)}`));
  if (when) {
    const words = dateText(when.getTime(), true);
    const time = el("time", "history-when", words);
    time.dateTime = when.toISOString();
    li.append(time);
  }
  return li;
}

function detailRow(list, label, value) {
  const row = el("div", "fact");
  row.append(el("dt", "", label), el("dd", "", value));
  list.append(row);
}

function cardItem(sid, card) {
  const ack = live.get(sid);
  const known = ack?.ok ? ack : card; // the live answer, else the last balance this phone saw
  const li = el("li", "card");
  li.dataset.sid = sid;
  const details = el("details");
  const summary = el("summary");
  const head = el("div", "card-head");
  head.append(el("span", "card-biz", [own((ack?.ok && ack.biz) || card.biz || sid)]));
  const points = Number(known.points);
  head.append(el("span", "card-points", Number.isFinite(points) ? count("points", points) : say("points_unknown")));
  summary.append(head);
  const visits = Number(known.visits);
  const visitsText = Number.isFinite(visits) ? count("visits", visits) : say("balance_not_loaded");
  summary.append(el("span", "card-visits", visitsText));

  const p = ack?.ok ? progress({ ...ack, ...ack.rule }) : null;
  if (p) {
    const bar = el("div", "bar");
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(p.fraction * 100)));
    const fill = el("div", "fill");
    fill.style.width = `${Math.round(p.fraction * 100)}%`;
    bar.append(fill);
    const words = el("span", "card-progress" + (p.ready ? " card-progress--ready" : ""), p.text);
    words.id = `progress-${sid}`; // names the progress bar
    bar.setAttribute("aria-labelledby", words.id);
    summary.append(bar, words);
  }
  for (const line of ack?.ok ? promotionLines(ack.promotions) : []) {
    summary.append(el("span", "card-promos", line));
  }
  if (ack && !ack.ok) {
    const words = ack.error?.code === "unknown_sponsor"
      ? { title: say("business_left") }
      : friendlyError(ack);
    summary.append(el("span", "card-note", words.title));
  } else if (!ack && card.seen_at) {
    summary.append(el("span", "card-note", say("last_seen", { date: dateText(card.seen_at) })));
  }
  details.append(summary);

  const body = el("div", "card-details");
  const facts = el("dl");
  if (ack?.ok && ack.rule) {
    const rule = ack.rule;
    if (rule.reward) {
      const at = { reward: own(rule.reward), points: count("points", rule.points_needed) };
      detailRow(facts, say("reward"), say("reward_at", at));
    }
    detailRow(facts, say("each_visit"), count("points", rule.points_per_scan || 1));
    const next = Number(ack.next_scan_in) || 0;
    detailRow(facts, say("next_visit_counts"), next > 0 ? relativeWait(next) : say("now"));
  }
  if (ack?.ok && ack.cid) detailRow(facts, say("card_number"), ack.cid);
  if (card.added_at) detailRow(facts, say("on_phone_since"), dateText(card.added_at));
  body.append(facts);
  if (ack?.ok && Array.isArray(ack.history) && ack.history.length) {
    body.append(el("h3", "", say("recent_activity")));
    const list = el("ol", "history");
    const newest = ack.history.slice().sort((a, b) => (Number(b.at_ms) || 0) - (Number(a.at_ms) || 0));
    for (const entry of newest.slice(0, 20)) list.append(historyItem(entry));
    body.append(list);
  }
  if (ack?.ok && ack.visits > 0 && socket && walletKinds().length) {
    const slot = el("div", "wallet-passes");
    showPassButtons(slot, { socket, sid, key: card.key });
    body.append(slot);
  }
  details.append(body);
  li.append(details);
  // Outside <details>: an open voucher must be visible without unfolding the card.
  if (claims.has(sid)) li.append(claims.get(sid).root);
  return li;
}

function render() {
  let cards;
  try {
    cards = loadCards();
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    setStatus(friendlyError({ error: { code: "storage" } }).detail, "error");
    return {};
  }
  const opened = document.querySelectorAll("#cards details[open]");
  const open = new Set([...opened].map((d) => d.parentNode.dataset.sid));
  const list = $("cards");
  const entries = Object.entries(cards).sort(([, a], [, b]) => (a.biz || "").localeCompare(b.biz || ""));
  list.replaceChildren(...entries.map(([sid, card]) => cardItem(sid, card)));
  for (const item of list.children) if (open.has(item.dataset.sid)) item.firstChild.open = true;
  $("empty").hidden = entries.length > 0;
  $("backup").hidden = false;
  $("export-empty").hidden = entries.length > 0;
  $("export-body").hidden = entries.length === 0;
  if ($("export").open) $("export-code").value = entries.length ? exportCode(cards) : "";
  return cards;
}

function setStatus(text, tone = "") {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${tone ? `status--${tone}` : ""}`;
  status.hidden = !text;
}

/** Ask the server for each card's balance, one at a time (the rate limit counts events). */
async function refresh(sids) {
  if (!socket?.connected) return;
  let offline = false;
  for (const sid of sids) {
    const card = loadCards()[sid];
    if (!card) continue;
    let ack = await request(socket, "card", { sid, key: card.key });
    if (!ack.ok && ack.error?.code === "rate_limited") {
      await new Promise((ok) => setTimeout(ok, 1500));
      ack = await request(socket, "card", { sid, key: card.key });
    }
    if (!ack.ok && ["offline", "unavailable", "server_error", "rate_limited"].includes(ack.error?.code)) {
      offline = true;
      continue; // keep showing the last known balance
    }
    live.set(sid, ack);
    if (ack.ok) {
      rememberBalance(sid, ack);
      claimBox(sid, card.key).update(ack);
    }
  }
  render();
  setStatus(offline ? say("balances_partial") : "");
}

/** The reward panel of a card: claiming here counts no visit (it never opens /s/{sid}). */
function claimBox(sid, key) {
  if (!claims.has(sid)) {
    const onCard = (ack) => {
      live.set(sid, ack);
      rememberBalance(sid, ack);
      render();
    };
    claims.set(sid, new ClaimBox(el("div"), { socket, sid, key, onCard }));
  }
  return claims.get(sid);
}

function setUpExport() {
  $("export").addEventListener("toggle", () => {
    if ($("export").open) render();
  });
  $("copy").addEventListener("click", async () => {
    const code = $("export-code").value;
    let copied = false;
    try {
      await navigator.clipboard.writeText(code);
      copied = true;
    } catch {
      // Clipboard API needs a secure context; fall back to the old way.
      $("export-code").select();
      copied = document.execCommand?.("copy") ?? false;
    }
    $("copy-status").textContent = say(copied ? "copied" : "copy_by_hand");
  });
}

/** "a, b, c" (the page's language joins lists its own way), each name a business's own words:
 * parts for `el`. */
function names(list) {
  const parts = new Intl.ListFormat(LANG, { style: "short", type: "unit" }).formatToParts(list);
  return parts.map((part) => (part.type === "element" ? own(part.value) : part.value));
}

function setUpImport() {
  $("import-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const msg = $("import-msg");
    let result;
    try {
      result = importCode($("import-code").value);
    } catch (err) {
      if (!(err instanceof CodeError || err instanceof StorageError)) throw err;
      msg.className = "form-msg form-msg--error";
      msg.textContent = err.message;
      return;
    }
    const lines = [];
    if (result.added.length) {
      const cards = count("cards", result.added.length);
      lines.push(say("import_added", { cards, names: names(result.added) }));
    }
    if (result.same.length) lines.push(say("import_same", { names: names(result.same) }));
    if (result.conflicts.length) lines.push(say("import_conflicts", { names: names(result.conflicts) }));
    msg.className = `form-msg ${result.conflicts.length ? "form-msg--warn" : "form-msg--ok"}`;
    msg.replaceChildren(...lines.flatMap((line, i) => [i ? " " : "", line].flat()));
    if (result.added.length) $("import-code").value = "";
    const cards = render();
    ensureSocket();
    refresh(Object.keys(cards).filter((sid) => !live.has(sid)));
  });
}

function ensureSocket() {
  if (socket) return;
  socket = connect();
  socket.on("connect", () => refresh(Object.keys(loadCards())));
  // Staff approved or rejected a claim (the `card` requests joined each card's room).
  socket.on("claim_update", (claim) => {
    for (const box of claims.values()) if (box.cid && box.cid === claim.cid) box.onUpdate(claim);
  });
  socket.on("connect_error", () =>
    setStatus(say("wallet_offline"), "warn")
  );
}

function main() {
  registerServiceWorker();
  const cards = render();
  setUpExport();
  setUpImport();
  if (Object.keys(cards).length) ensureSocket();
  // Another tab scanned or imported a card.
  window.addEventListener("storage", (event) => {
    if (event.key !== "ult.cards") return;
    ensureSocket();
    refresh(Object.keys(render()).filter((sid) => !live.has(sid)));
  });
}

main();
