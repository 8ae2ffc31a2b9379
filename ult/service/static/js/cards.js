// This phone's loyalty cards: one secret key per sponsor, kept only in localStorage
// (docs/architecture.md, "Identity"). The server sees sha256(key), never the key, so the key *is* the card.
//
// localStorage["ult.cards"] = {
//   "<sid>": {key, biz, added_at, visits?, points?, seen_at?}   // visits/points: last known
// }
// Recovery code: "ULT1." + base64url(UTF-8 JSON {v: 1, cards: {"<sid>": {key, biz}}})

import { format, limit, say } from "./common.js";

const STORE = "ult.cards";
const CODE_PREFIX = "ULT1.";
const SID_RE = format("sid");
const KEY_RE = format("key");
const MAX_BIZ = limit("business_name"); // names are only shown: a longer one is cut

export class StorageError extends Error {}

export function base64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** `bits` random bits as base64url (256 bits → 43 characters). */
export function randomToken(bits = 256) {
  return base64url(crypto.getRandomValues(new Uint8Array(bits / 8)));
}

/** All cards on this phone, {sid: card}. Entries that are not valid cards are skipped. */
export function loadCards() {
  let raw;
  try {
    raw = localStorage.getItem(STORE);
  } catch (err) {
    throw new StorageError(say("storage_blocked"));
  }
  let parsed = {};
  try {
    parsed = JSON.parse(raw || "{}");
  } catch {
    parsed = {};
  }
  const cards = {};
  if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
    for (const [sid, card] of Object.entries(parsed)) {
      if (SID_RE.test(sid) && card && typeof card.key === "string" && KEY_RE.test(card.key)) {
        cards[sid] = card;
      }
    }
  }
  return cards;
}

function saveCards(cards) {
  try {
    localStorage.setItem(STORE, JSON.stringify(cards));
  } catch (err) {
    throw new StorageError(say("storage_refused"));
  }
}

/** The card for `sid`, made (with a fresh random key) if this phone has none yet. */
export function getOrCreateCard(sid, biz) {
  const cards = loadCards();
  let card = cards[sid];
  if (!card) {
    card = { key: randomToken(256), biz: biz || sid, added_at: new Date().toISOString() };
    cards[sid] = card;
    saveCards(cards);
    // Read back: a browser that silently drops writes would otherwise mint a new card per visit.
    if (loadCards()[sid]?.key !== card.key) {
      throw new StorageError(say("storage_lost"));
    }
  }
  return card;
}

/** Merge what the server just told us (name, balance) into the stored card. Never touches the key. */
export function rememberBalance(sid, fields) {
  try {
    const cards = loadCards();
    const card = cards[sid];
    if (!card) return;
    if (typeof fields.biz === "string" && fields.biz) card.biz = fields.biz.slice(0, MAX_BIZ);
    if (Number.isFinite(fields.visits)) card.visits = fields.visits;
    if (Number.isFinite(fields.points)) card.points = fields.points;
    card.seen_at = new Date().toISOString();
    saveCards(cards);
  } catch {
    // Only a cache of what the server knows; losing it costs nothing.
  }
}

export function exportCode(cards = loadCards()) {
  const out = {};
  for (const [sid, card] of Object.entries(cards)) out[sid] = { key: card.key, biz: card.biz || sid };
  const json = JSON.stringify({ v: 1, cards: out });
  return CODE_PREFIX + base64url(new TextEncoder().encode(json));
}

export class CodeError extends Error {}

/** Parse and check a recovery code; returns {sid: {key, biz}} or throws CodeError. */
export function parseCode(text) {
  const code = String(text || "").replace(/\s+/g, "");
  if (!code) throw new CodeError(say("code_empty"));
  if (!code.startsWith(CODE_PREFIX)) {
    throw new CodeError(say("code_not_ult"));
  }
  const body = code.slice(CODE_PREFIX.length).replace(/={1,2}$/, "");
  let data;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(body)) throw new Error("alphabet");
    data = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(fromBase64url(body)));
  } catch {
    throw new CodeError(say("code_incomplete"));
  }
  if (!data || data.v !== 1 || typeof data.cards !== "object" || Array.isArray(data.cards) || !data.cards) {
    throw new CodeError(say("code_newer"));
  }
  const cards = {};
  for (const [sid, card] of Object.entries(data.cards)) {
    if (!SID_RE.test(sid) || !card || typeof card.key !== "string" || !KEY_RE.test(card.key)) {
      throw new CodeError(say("code_bad_card"));
    }
    const biz = typeof card.biz === "string" && card.biz.trim() ? card.biz.slice(0, MAX_BIZ) : sid;
    cards[sid] = { key: card.key, biz };
  }
  if (Object.keys(cards).length === 0) throw new CodeError(say("code_no_cards"));
  return cards;
}

/**
 * Add the cards of a recovery code to this phone. A card this phone already holds under a
 * different key is kept as it is and reported (it has its own points); nothing is overwritten.
 * Returns {added: [biz], same: [biz], conflicts: [biz]}.
 */
export function importCode(text) {
  const incoming = parseCode(text);
  const cards = loadCards();
  const result = { added: [], same: [], conflicts: [] };
  const now = new Date().toISOString();
  for (const [sid, card] of Object.entries(incoming)) {
    const mine = cards[sid];
    if (!mine) {
      cards[sid] = { key: card.key, biz: card.biz, added_at: now };
      result.added.push(card.biz);
    } else if (mine.key === card.key) {
      result.same.push(mine.biz || card.biz);
    } else {
      result.conflicts.push(mine.biz || card.biz);
    }
  }
  if (result.added.length) saveCards(cards);
  return result;
}
