// The scan page: one QR scan → one counted visit, shown big within a second.
import { getOrCreateCard, randomToken, rememberBalance, StorageError } from "./cards.js";
import { ClaimBox } from "./claim.js";
import {
  connect, count, earlyRequest, el, format, number, friendlyError, humanDuration, pageConfig,
  parsed, progress, registerServiceWorker,
  request, say, setText,
} from "./common.js";
import { showPassButtons } from "./passes.js";
import { appliedLine, promotionLines } from "./promos.js";

const $ = (id) => document.getElementById(id);
const TAG_RE = format("at");
const OFFLINE_AFTER_MS = 5000;
const SOLVE_ATTEMPTS = 2; // a stale challenge (slow phone, another server) is issued once more

/**
 * The nonce of this visit. It lives in history.state, i.e. with this history entry: a retry or a
 * reconnect in the same page load — or coming Back to the page from the wallet — sends the same
 * nonce, so the server counts the visit once. A reload or a new scan is a new visit.
 */
function visitNonce(sid) {
  const nav = performance.getEntriesByType?.("navigation")[0];
  const saved = history.state && history.state.ult_scan;
  if (nav?.type === "back_forward" && saved?.sid === sid && saved.nonce) return saved.nonce;
  const nonce = randomToken(128);
  try {
    history.replaceState({ ...(history.state || {}), ult_scan: { sid, nonce } }, "");
  } catch {
    // Not fatal: the nonce still guards retries within this page load.
  }
  return nonce;
}

/** `at` (where the QR hangs) and `code` (rotating counter token) from the QR's URL. */
function tagsFromUrl() {
  const query = new URLSearchParams(location.search);
  const tags = {};
  const at = query.get("at");
  if (at && TAG_RE.test(at)) tags.at = at; // a damaged table tag must not cost the visit
  const code = query.get("code");
  if (code) tags.code = code.slice(0, 128); // the server judges it and says what is wrong
  return tags;
}

function show({ tone, icon, title, detail = "", balance = null, retry = false }) {
  const box = $("result");
  box.className = `result result--${tone}`;
  box.removeAttribute("aria-busy");
  $("result-icon").setAttribute("href", `/static/icons/ui.svg#i-${icon}`);
  setText($("headline"), title);
  setText($("detail"), detail);
  $("detail").hidden = !detail;
  showBalance(balance);
  $("retry").hidden = !retry;
}

/** Points and progress from a scan answer ({points, points_needed, reward}), or hide them. */
function showBalance(balance) {
  $("points").hidden = !balance;
  if (balance) $("points").textContent = count("points", balance.points);
  const p = balance && progress(balance);
  $("progress").hidden = !p;
  if (p) {
    $("progress-fill").style.width = `${Math.round(p.fraction * 100)}%`;
    $("progress-bar").setAttribute("aria-valuenow", String(Math.round(p.fraction * 100)));
    setText($("progress-text"), p.text);
    $("progress").classList.toggle("progress--ready", p.ready);
  }
}

/** This scan's promotion ("Double points — 2 points") and the sponsor's running and next one. */
function showPromotions(ack) {
  const applied = ack.ok ? appliedLine(ack) : "";
  setText($("promo"), applied);
  $("promo").hidden = !applied;
  showPromotionList(ack.promotions);
}

function showPromotionList(promotions) {
  const lines = promotionLines(promotions);
  $("promotions").replaceChildren(...lines.map((line) => el("li", "", line)));
  $("promotions").hidden = !lines.length;
}

/**
 * Solve a scan's proof-of-work challenge (docs/protocol.md, "Challenges") in a worker, so the
 * page stays alive meanwhile: the `pow` the scan is sent again with, or null.
 */
function solveChallenge(challenge) {
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(pageConfig().pow_worker || "/static/js/pow-worker.js");
    } catch {
      resolve(null);
      return;
    }
    const done = (pow) => {
      worker.terminate();
      resolve(pow);
    };
    worker.onmessage = ({ data }) => {
      if (!Number.isInteger(data?.number)) return done(null);
      const { algorithm, challenge: hash, salt, signature } = challenge;
      const solution = { algorithm, challenge: hash, number: data.number, salt, signature };
      done(btoa(JSON.stringify(solution)));
    };
    worker.onerror = () => done(null);
    worker.postMessage(challenge);
  });
}

function showChecking() {
  const detail = say("checking_phone_detail");
  show({ tone: "pending", icon: "pending", title: say("checking_phone"), detail });
  $("result").setAttribute("aria-busy", "true");
}

function showPending() {
  show({ tone: "pending", icon: "pending", title: say("counting") });
  $("result").setAttribute("aria-busy", "true");
}

function showVisit(ack, retried) {
  const next = Number(ack.next_scan_in) || 0;
  // A duplicate after our own retry is this visit whose first answer got lost: just "recorded".
  const again = ack.duplicate && !retried;
  show({
    tone: "ok",
    icon: "ok",
    title: say(again ? "visit_again" : "visit_recorded", { visits: number(ack.visits) }),
    detail: next > 0 ? say("next_visit", { wait: humanDuration(next) }) : say("thanks"),
    balance: ack,
  });
}

function showRefusal(ack) {
  const words = friendlyError(ack);
  const calm = ["cooldown", "daily_cap", "rate_limited"].includes(words.code);
  show({
    tone: calm ? "wait" : "error",
    icon: calm ? "wait" : "error",
    title: words.title,
    detail: words.detail,
    balance: Number.isFinite(ack.visits) ? ack : null,
    retry: Boolean(words.retry),
  });
}

async function main() {
  registerServiceWorker();
  const { sid, biz } = pageConfig();
  const fail = (code) => show({ tone: "error", icon: "error", ...friendlyError({ error: { code } }) });
  if (!sid) return fail("bad_request");

  let card;
  try {
    card = getOrCreateCard(sid, biz);
  } catch (err) {
    if (!(err instanceof StorageError)) throw err;
    return fail("storage");
  }

  const payload = { sid, key: card.key, nonce: visitNonce(sid), ...tagsFromUrl() };
  // The scan goes out on the socket boot.js opened, as it opens, before the client takes it.
  let early = earlyRequest("scan", payload);
  await parsed(); // the page's scripts after this one: Socket.IO's (pages.py)
  const socket = connect();
  // The reward: Claim button, claim states, voucher. Fed by the scan's answer, which carries
  // the card (balance, rule, open claim): a visit is one request. `card` only after a reconnect
  // or a claim.
  const claims = new ClaimBox($("claim"), {
    socket,
    sid,
    key: card.key,
    autoOpen: true, // a reload at the counter brings the voucher straight back
    onCard: (ack) => {
      rememberBalance(sid, ack);
      showBalance({ points: ack.points, ...ack.rule });
      if (ack.promotions) showPromotionList(ack.promotions);
    },
  });
  let state = "waiting"; // waiting → sending → done (or back to waiting on a retryable error)
  let attempts = 0;
  let solves = 0; // challenges solved since the last "Try again"

  async function send() {
    if (state !== "waiting" || !(early || socket.connected)) return;
    state = "sending";
    attempts += 1;
    const first = early;
    early = null;
    const ack = first ? await first : await request(socket, "scan", payload);
    if (!ack) {
      // The early socket was lost before the answer: the client, connected again, sends it.
      state = "waiting";
      return send();
    }
    if (ack.challenge && solves < SOLVE_ATTEMPTS) return solveAndResend(ack.challenge);
    if (Number.isFinite(ack.visits)) {
      rememberBalance(sid, ack);
      claims.update(ack); // the answer carries rule and claim: no second request
    }
    if (ack.ok) {
      state = "done";
      showVisit(ack, attempts > 1);
      showPassButtons($("wallet-passes"), { socket, sid, key: card.key }); // after the visit
    } else {
      state = friendlyError(ack).retry ? "waiting" : "done";
      showRefusal(ack);
    }
    showPromotions(ack);
  }

  // A new card past this network's budget: prove this is a phone, then the same scan again.
  async function solveAndResend(challenge) {
    solves += 1;
    showChecking();
    const pow = await solveChallenge(challenge);
    if (pow) payload.pow = pow;
    state = "waiting";
    showPending();
    send();
  }

  function connected() {
    if (state === "waiting") send();
    // A reconnect leaves the card's room: rejoin it, and catch a claim_update we missed.
    else if (state === "done" && claims.card) claims.refresh();
  }

  function retry() {
    if (state !== "waiting") return;
    solves = 0;
    showPending();
    if (socket.connected) send();
    else socket.disconnect().connect(); // a fresh attempt now, not at the next backoff tick
  }

  // The server refused the connection ({code, message} as the error's data, e.g. too many
  // connections from this network): its words, not "offline".
  let refusal = null;

  function offline() {
    if (state === "waiting") showRefusal({ ok: false, error: refusal || { code: "offline" } });
  }

  function connectFailed(err) {
    refusal = err?.data?.code ? err.data : null;
    offline();
  }

  showPending();
  socket.on("connect", connected); // after a reconnect: the same nonce, so at most one visit
  socket.on("claim_update", (claim) => claims.onUpdate(claim));
  socket.on("connect_error", connectFailed);
  setTimeout(offline, OFFLINE_AFTER_MS);
  $("retry").addEventListener("click", retry);
  window.addEventListener("online", retry);
  send();
}

main();
