// The staff page at the till: pending claims and recent vouchers, live, with Approve / Reject /
// Redeem. The business id and staff key are entered once and kept in this device's
// localStorage. It talks Socket.IO only: `watch` (live `claim` events), `claims`, `decide`.
import {
  connect, el, format, friendlyError, noteServerTime, own, request, say, serverNow, setText, timeText,
} from "./common.js";

const STORE = "ult.staff";
const TICK_MS = 15000; // waiting times and voucher expiry move on without events
const RETRY_MS = 1000;
const $ = (id) => document.getElementById(id);
const claims = new Map(); // claim id → claim (as the server sent it)
let creds = null;
let socket = null;
let staffName = "";


function loadCreds() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE) || "null");
    return saved && format("sid").test(saved.sid) && format("staff_key").test(saved.key) ? saved : null;
  } catch {
    return null;
  }
}

/**
 * The claim's state as the server decided it (`claim.state`). Display only: a voucher whose
 * time runs out while listed shows as expired.
 */
function stateOf(claim, now = serverNow()) {
  return claim.state === "approved" && claim.expires_at <= now ? "expired" : claim.state;
}

function showMessage(text, kind = "ok") {
  const box = $("message");
  box.textContent = text;
  box.className = `staff-message staff-message--${kind}`;
  box.hidden = !text;
}

function showSetup(problem = "") {
  socket?.disconnect(); // a refused key leaves the live room too
  socket = null;
  $("counter").hidden = true;
  $("forget").hidden = true;
  $("setup").hidden = false;
  if (creds) $("setup-sid").value = creds.sid;
  const note = $("setup").querySelector(".staff-problem");
  note?.remove();
  if (problem) $("setup").prepend(el("p", "staff-problem", problem));
}

function actionButton(textId, css, claim, decision) {
  const b = el("button", `button staff-action ${css}`, say(textId));
  b.type = "button";
  b.addEventListener("click", () => decide(claim, decision, b));
  return b;
}

function claimItem(claim, now) {
  const state = stateOf(claim, now);
  const li = el("li", `staff-claim staff-claim--${state}`);
  li.dataset.id = claim.id;
  const head = el("div", "staff-claim-head");
  head.append(el("span", "staff-code", claim.code), el("span", "staff-reward", [own(claim.reward)]));
  const time = { requested: claim.created_ms, approved: claim.expires_at, expired: claim.expires_at };
  const words = say(`staff_status_${state}`, {
    time: timeText(state === "redeemed" ? claim.redeemed_ms : time[state] || claim.decided_ms),
    by: own(claim.by || ""),
  });
  li.append(head, el("p", "staff-claim-status", words));
  const actions = el("div", "staff-actions");
  if (state === "requested") {
    actions.append(
      actionButton("staff_approve", "staff-approve", claim, "approve"),
      actionButton("staff_reject", "button--secondary staff-reject", claim, "reject"),
    );
  } else if (state === "approved") {
    actions.append(actionButton("staff_redeem", "staff-redeem", claim, "redeem"));
  }
  if (actions.childElementCount) li.append(actions);
  return li;
}

function render() {
  const now = serverNow();
  const all = [...claims.values()];
  const pending = all.filter((c) => c.state === "requested").sort((a, b) => a.created_ms - b.created_ms);
  const vouchers = all.filter((c) => c.state !== "requested").sort((a, b) => b.created_ms - a.created_ms);
  $("pending-count").textContent = String(pending.length);
  $("pending").replaceChildren(
    ...(pending.length ? pending.map((c) => claimItem(c, now)) : [el("li", "staff-empty", say("staff_no_pending"))]),
  );
  $("vouchers").replaceChildren(
    ...(vouchers.length ? vouchers.map((c) => claimItem(c, now)) : [el("li", "staff-empty", say("staff_no_vouchers"))]),
  );
}

function absorb(claim) {
  if (claim && claim.id) claims.set(claim.id, claim);
}

async function decide(claim, decision, button) {
  button.disabled = true;
  const ack = await request(socket, "decide", {
    sid: creds.sid, staff_key: creds.key, claim_id: claim.id, decision,
  });
  if (ack.ok) {
    absorb(ack.claim);
    showMessage(say(`staff_done_${decision}`, { code: ack.claim.code }));
  } else {
    absorb(ack.claim); // the claim as it is now, when the server sent it
    const words = friendlyError(ack);
    showMessage(`${words.title}. ${words.detail}`, "error");
    if (ack.error?.code === "unauthorized") return showSetup(words.detail);
  }
  render();
}

/** Join the live room and load the recent claims (at start and after every reconnect). */
async function start() {
  $("status").textContent = say("staff_connecting");
  const auth = { sid: creds.sid, staff_key: creds.key };
  const ack = await request(socket, "watch", auth);
  if (!ack.ok) {
    const words = friendlyError(ack);
    return ack.error?.code === "offline" ? null : showSetup(`${words.title}. ${words.detail}`);
  }
  staffName = ack.staff;
  const listed = await request(socket, "claims", auth);
  if (!listed.ok) return showSetup(friendlyError(listed).detail);
  claims.clear();
  listed.claims.forEach(absorb);
  setText($("status"), say("staff_live", { biz: own(ack.biz), staff: own(staffName) }));
  render();
}

function open() {
  $("setup").hidden = true;
  $("counter").hidden = false;
  $("forget").hidden = false;
  socket ||= connect();
  socket.off();
  socket.on("connect", start);
  socket.on("disconnect", (reason) => {
    $("status").textContent = say("staff_offline");
    // The server drops a till whose key was revoked: connect again to learn why (the next
    // `watch` answers `unauthorized`). Other drops reconnect by themselves.
    if (reason === "io server disconnect") setTimeout(() => socket?.connect(), RETRY_MS);
  });
  socket.on("claim", (claim) => {
    noteServerTime(claim);
    absorb(claim);
    render();
  });
  if (socket.connected) start();
}

function init() {
  for (const node of document.querySelectorAll("[data-say]")) node.textContent = say(node.dataset.say);
  $("setup").addEventListener("submit", (e) => {
    e.preventDefault();
    const sid = $("setup-sid").value.trim();
    const key = $("setup-key").value.trim();
    if (!format("sid").test(sid)) return showSetup(say("staff_bad_sid"));
    if (!format("staff_key").test(key)) return showSetup(say("staff_bad_key"));
    creds = { sid, key };
    try {
      localStorage.setItem(STORE, JSON.stringify(creds));
    } catch {
      // private mode: the page still works until it is closed
    }
    $("setup-key").value = "";
    open();
  });
  $("forget").addEventListener("click", () => {
    localStorage.removeItem(STORE);
    creds = { sid: creds?.sid || "", key: "" };
    claims.clear();
    showSetup();
  });
  setInterval(() => {
    if (!$("counter").hidden) render();
  }, TICK_MS);
  creds = loadCreds();
  if (creds) open();
  else showSetup();
}

init();
