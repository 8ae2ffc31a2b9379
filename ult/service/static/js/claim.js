// Rewards on the customer pages: the Claim button, a claim's states, and the
// live voucher — full screen, with the current time ticking and a moving background, so that
// staff can tell it from a screenshot at a glance.
import {
  count, el, friendlyError, humanDuration, noteServerTime, own, request, say, serverNow, setText, timeText,
} from "./common.js";
import { showPassButtons } from "./passes.js";

const CONFIRM_GUARD_MS = 400; // a double tap on "Claim now" must not also confirm
const RECENT_MS = 60 * 60 * 1000; // a claim that ended is still mentioned for an hour

/** "2:05:09 PM" (en-US), "14:05:09" (sv) — the phone's time, ticking on the voucher. */
export function clockText(ms) {
  return timeText(ms, { seconds: true });
}

/** How long a voucher stays valid, in words: 899500 → "Valid for 15 minutes" (a clock-like
 * "15:00" under the clock would read as a time of day). */
export function validForText(ms) {
  return say("valid_for", { time: humanDuration(Math.max(0, ms) / 1000) });
}

/**
 * The claim's state as the server decided it (`claim.state`, docs/protocol.md). Display only:
 * a voucher whose countdown reaches `expires_at` while on screen shows as expired.
 */
export function claimState(claim, now = serverNow()) {
  if (!claim) return null;
  return claim.state === "approved" && claim.expires_at <= now ? "expired" : claim.state;
}

const isOpen = (claim) => ["requested", "approved"].includes(claimState(claim));

function pointsBack(claim) {
  return count("points_back", Number(claim.points) || 0);
}

/** Plain words for a claim that has ended. */
function endedWords(claim) {
  switch (claimState(claim)) {
    case "rejected":
      return say("claim_rejected", { back: pointsBack(claim) });
    case "void":
      return say("claim_void", { back: pointsBack(claim) });
    case "redeemed":
      return say("voucher_used", {
        reward: own(claim.reward),
        time: timeText(claim.redeemed_ms || serverNow()),
      });
    case "expired":
      return say("voucher_expired", { reward: own(claim.reward), time: timeText(claim.expires_at) });
    default:
      return "";
  }
}

// ---- one timer for every ticking display on the page --------------------------------------
const tickers = new Set();
let tickTimer = 0;

function tick() {
  const now = serverNow();
  for (const fn of [...tickers]) fn(now);
  // Aligned to the second, so the clock never skips or repeats a second.
  tickTimer = tickers.size ? setTimeout(tick, 1005 - (now % 1000)) : 0;
}

function everySecond(fn) {
  tickers.add(fn);
  if (tickTimer) fn(serverNow());
  else tick();
  return () => tickers.delete(fn);
}

// ---- the full-screen voucher (one per page) ------------------------------------------------
let voucher = null;

function buildVoucher() {
  const root = el("div", "voucher");
  root.id = "voucher";
  root.hidden = true;
  root.setAttribute("role", "dialog");
  root.setAttribute("aria-modal", "true");
  root.setAttribute("aria-labelledby", "voucher-reward");
  const parts = {
    biz: el("p", "voucher-biz"),
    reward: el("h2", "voucher-reward"),
    code: el("p", "voucher-code"),
    clock: el("time", "voucher-clock"),
    left: el("p", "voucher-left"),
    used: el("p", "voucher-used", say("used")),
    hint: el("p", "voucher-hint", say("voucher_hint")),
    close: el("button", "button voucher-close", say("done")),
    passes: el("div", "wallet-passes"), // the voucher into the phone's wallet (passes.js)
  };
  for (const [name, node] of Object.entries(parts)) node.id = `voucher-${name}`;
  parts.passes.hidden = true;
  parts.close.type = "button";
  const card = el("div", "voucher-card");
  card.append(
    parts.biz,
    el("p", "voucher-eyebrow", say("reward")),
    parts.reward,
    parts.code,
    parts.used,
    parts.hint,
    parts.clock,
    parts.left,
    parts.passes,
  );
  root.append(card, parts.close);
  document.body.append(root);
  parts.close.addEventListener("click", closeVoucher);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !root.hidden) closeVoucher();
  });
  return { root, parts, claim: null, stop: null, wake: null, back: null };
}

function paintVoucher(now) {
  const { parts, claim, root } = voucher;
  const state = claimState(claim, now);
  parts.clock.textContent = clockText(now);
  parts.clock.dateTime = new Date(now).toISOString();
  root.classList.toggle("voucher--over", state !== "approved");
  root.classList.toggle("voucher--used", state === "redeemed");
  parts.used.hidden = state !== "redeemed";
  parts.hint.hidden = state !== "approved";
  setText(parts.left, state === "approved" ? validForText(claim.expires_at - now) : endedWords(claim));
}

/** Show `claim` full screen (or update the one showing); `card` ({socket, sid, key}) gets
 * its wallet buttons there. */
export function openVoucher(claim, card = null) {
  voucher ||= buildVoucher();
  const wasHidden = voucher.root.hidden;
  voucher.claim = claim;
  setText(voucher.parts.biz, [own(claim.biz)]);
  setText(voucher.parts.reward, [own(claim.reward)]);
  voucher.parts.code.textContent = claim.code || "";
  voucher.root.hidden = false;
  document.documentElement.classList.add("has-voucher");
  if (voucher.stop) paintVoucher(serverNow());
  else voucher.stop = everySecond(paintVoucher);
  if (wasHidden) {
    if (card) showPassButtons(voucher.parts.passes, card);
    voucher.back = document.activeElement;
    voucher.parts.close.focus();
    keepScreenOn();
  }
}

/** Update the voucher on screen if it is showing this claim. */
function refreshVoucher(claim) {
  if (voucher && !voucher.root.hidden && voucher.claim?.id === claim.id) openVoucher(claim);
}

export function closeVoucher() {
  if (!voucher || voucher.root.hidden) return;
  voucher.root.hidden = true;
  document.documentElement.classList.remove("has-voucher");
  voucher.stop?.();
  voucher.stop = null;
  voucher.wake?.release().catch(() => {});
  voucher.wake = null;
  voucher.back?.focus?.();
}

async function keepScreenOn() {
  // The phone should not dim while the customer walks to the counter; optional everywhere.
  try {
    voucher.wake = await navigator.wakeLock?.request("screen");
  } catch {
    voucher.wake = null;
  }
}

// ---- one card's reward: ready → confirm → requested → approved (or rejected, void, expired) --
export class ClaimBox {
  /**
   * root: the element to render into. onCard(ack) gets every fresh `card` answer (the balance
   * changed). autoOpen: show an approved voucher full screen as soon as it is seen (scan
   * page); otherwise only when it is approved while the page watches (wallet).
   */
  constructor(root, { socket, sid, key, onCard = () => {}, autoOpen = false }) {
    Object.assign(this, { root, socket, sid, key, onCard, autoOpen });
    this.card = null; // the latest `card` answer
    this.claim = null;
    this.live = false; // this.claim changed while the page was open
    this.notice = null; // {title, detail} of a claim that failed
    this.confirming = false;
    this.busy = false;
    this.shown = new Set(); // claim ids already opened full screen
    this.stopTick = null;
    root.classList.add("claim");
    root.setAttribute("aria-live", "polite");
    root.hidden = true;
  }

  get cid() {
    return this.card?.cid;
  }

  /** Ask for the card (balance, rule, latest claim); it also joins the card's live room. */
  async refresh() {
    const ack = await request(this.socket, "card", { sid: this.sid, key: this.key });
    if (ack.ok) {
      this.update(ack);
      this.onCard(ack);
    }
    return ack;
  }

  update(card) {
    this.card = card;
    if (card.claim) this.absorb(card.claim, false);
    this.render();
  }

  /** A `claim_update` pushed by the server. */
  onUpdate(claim) {
    noteServerTime(claim);
    this.absorb(claim, true);
    this.render();
    if (["rejected", "void"].includes(claim.state)) this.refresh(); // the points came back
  }

  absorb(claim, live) {
    const same = this.claim?.id === claim.id;
    if (same && this.claim.state !== "requested" && claim.state === "requested") return; // stale
    if (same && this.claim.state === "redeemed" && claim.state !== "redeemed") return; // stale
    this.live = live || (same && this.live);
    this.claim = claim;
    if (live) this.notice = null;
    const state = claimState(claim);
    if (state === "approved" && !this.shown.has(claim.id) && (live || this.autoOpen)) {
      this.shown.add(claim.id);
      openVoucher(claim, this);
    } else {
      refreshVoucher(claim);
    }
  }

  async submit() {
    if (this.busy) return;
    this.busy = true;
    this.notice = null;
    this.render();
    const ack = await request(this.socket, "claim", { sid: this.sid, key: this.key });
    this.busy = false;
    this.confirming = false;
    if (ack.ok) {
      this.absorb(ack.claim, true);
    } else {
      const words = friendlyError({ ...ack, reward: this.card?.rule?.reward });
      if (words.retry) {
        // The claim may have gone through with its answer lost; trying again is safe.
        words.detail = say("claim_unconfirmed");
      }
      this.notice = words;
    }
    this.render();
    this.refresh();
  }

  ready() {
    const rule = this.card?.rule;
    return Boolean(rule?.reward && rule.points_needed > 0 && this.card.points >= rule.points_needed);
  }

  render() {
    this.stopTick?.();
    this.stopTick = null;
    const claim = this.claim;
    const state = claimState(claim);
    const parts = [];
    if (this.notice) {
      const box = el("div", "claim-notice");
      box.append(el("p", "claim-notice-title", this.notice.title), el("p", "", this.notice.detail));
      parts.push(box);
    }
    if (claim && !isOpen(claim) && (this.live || recent(claim))) {
      parts.push(el("p", "claim-note", endedWords(claim)));
    }
    if (state === "requested") parts.push(...this.waiting(claim));
    else if (state === "approved") parts.push(...this.voucherLink(claim));
    else if (this.ready()) parts.push(...(this.confirming ? this.confirm() : this.offer()));
    this.root.replaceChildren(...parts);
    this.root.hidden = parts.length === 0;
  }

  offer() {
    const rule = this.card.rule;
    const go = button(say("claim_now"), "claim-button", () => {
      this.confirming = true;
      this.render();
    });
    return [
      el("p", "claim-eyebrow", say("reward_earned")),
      el("p", "claim-reward", [own(rule.reward)]),
      go,
    ];
  }

  confirm() {
    const rule = this.card.rule;
    const valid = humanDuration((Number(rule.voucher_min) || 15) * 60);
    const how = say(rule.approval === "staff" ? "claim_how_staff" : "claim_how", { valid });
    const yes = button(say(this.busy ? "claiming" : "claim_yes"), "claim-confirm", () => this.submit());
    const no = button(say("not_now"), "claim-cancel button--secondary", () => {
      this.confirming = false;
      this.render();
    });
    yes.disabled = true;
    if (!this.busy) setTimeout(() => (yes.disabled = false), CONFIRM_GUARD_MS);
    no.disabled = this.busy;
    const row = el("div", "claim-actions");
    row.append(yes, no);
    return [
      el("p", "claim-title", say("claim_title", { reward: own(rule.reward) })),
      el("p", "claim-text", how),
      el("p", "claim-small", say("claim_uses", { points: count("points", rule.points_needed) })),
      row,
    ];
  }

  waiting(claim) {
    return [
      el("p", "claim-title claim-title--waiting", say("claim_waiting")),
      el("p", "claim-text", say("claim_show_code")),
      el("p", "claim-code", claim.code),
      el("p", "claim-small", say("claim_set_aside", { reward: own(claim.reward), points: count("points", claim.points) })),
    ];
  }

  voucherLink(claim) {
    const left = el("p", "claim-text");
    this.stopTick = everySecond((now) => {
      // Expired: re-render (as its own task; this runs inside render the first time).
      if (claimState(claim, now) !== "approved") return setTimeout(() => this.render());
      const text = validForText(claim.expires_at - now);
      if (left.textContent !== text) left.textContent = text; // a live region: say it once a minute
    });
    return [
      el("p", "claim-eyebrow", say("your_voucher")),
      el("p", "claim-reward", [own(claim.reward)]),
      left,
      button(say("show_voucher"), "claim-show", () => openVoucher(claim, this)),
    ];
  }
}

function recent(claim) {
  return serverNow() - Math.max(claim.created_ms || 0, claim.expires_at || 0) < RECENT_MS;
}

function button(text, className, onClick) {
  const b = el("button", `button ${className}`, text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}
