// Shared by the scan page and the wallet: config, the Socket.IO connection, plain words.

/** The JSON the server rendered into <script type="application/json" id="ult-config">. */
export function pageConfig() {
  try {
    return JSON.parse(document.getElementById("ult-config")?.textContent || "{}") || {};
  } catch {
    return {};
  }
}

/**
 * A new element with a class and text: a string, or the parts of a sentence that holds a
 * business's own words (see `own`). Never parsed as HTML.
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) setText(node, text);
  return node;
}

/** Put `text` (a string, or parts from `say` with `own` values) into `node`. */
export function setText(node, text) {
  if (Array.isArray(text)) node.replaceChildren(...text);
  else node.textContent = text;
}

/**
 * A business's own words (its name, reward, promotion, a staff name) inside a sentence: a
 * <bdi>, so that "10% off your tab" keeps its own direction in an Arabic sentence. A `say`
 * or `count` given one returns the sentence as parts for `setText` / `el`.
 */
export function own(text) {
  const node = document.createElement("bdi");
  node.textContent = text ?? "";
  return node;
}

export function registerServiceWorker() {
  if ("serviceWorker" in navigator) {
    // Installing is a nicety (the wallet opens offline); a page works without it. Its
    // downloads wait until the page has its answer: on slow data they would delay it.
    settled().then(() => navigator.serviceWorker.register("/sw.js", { scope: "/" })).catch(() => {});
  }
}

/** Resolves once the page has loaded and shows no answer pending (aria-busy), or 10 s on. */
function settled(maxMs = 10000) {
  return new Promise((resolve) => {
    const done = () => !document.querySelector('[aria-busy="true"]') && (resolve(), true);
    const watch = () => {
      if (done()) return;
      new MutationObserver((_, observer) => done() && observer.disconnect())
        .observe(document.body, { attributes: true, attributeFilter: ["aria-busy"], subtree: true });
    };
    if (document.readyState === "complete") watch();
    else window.addEventListener("load", watch, { once: true });
    setTimeout(resolve, maxMs);
  });
}

/** Resolves once the whole page is parsed (at once if it is). */
export function parsed() {
  return new Promise((resolve) => {
    if (document.readyState !== "loading") resolve();
    else document.addEventListener("DOMContentLoaded", resolve, { once: true });
  });
}

/** The Socket.IO connection to this origin (websocket only, like every ULT client). */
export function connect() {
  // `io` is the global of the vendored /static/vendor/socket.io.min.js.
  // timeout: a connection attempt that hangs (captive portal, dead Wi-Fi) fails after 5 s and
  // is retried, instead of after the default 20 s.
  return window.io({ transports: ["websocket"], reconnectionDelayMax: 4000, timeout: 5000 });
}

// Phone clock minus server clock, learnt from `now_ms` in acks: vouchers count down in server time.
let clockSkewMs = 0;

/** The server's time now, as well as this phone can tell. */
export function serverNow() {
  return Date.now() - clockSkewMs;
}

/** Learn the clock skew from a message carrying the server's `now_ms`. */
export function noteServerTime(message) {
  const serverMs = Number(message && message.now_ms);
  if (serverMs > 0) clockSkewMs = Date.now() - serverMs;
}

/**
 * Emit `event` and resolve with its acknowledgement. Never rejects: a lost connection or a
 * missing ack resolves as {ok: false, error: {code: "offline"}} so callers have one shape (the
 * words come from the catalog by code: friendlyError).
 */
export function request(socket, event, payload, timeoutMs = 6000) {
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (err, ack) => resolve(err ? offline() : answer(ack)));
  });
}

/**
 * The page's first request, on the socket the scan page's boot.js opened with its first bytes:
 * sent as that socket opens, without waiting for the Socket.IO connection (docs/protocol.md,
 * "The scan page's early socket"). Resolves like `request`, or with null when there is no
 * such socket or it was lost before the answer: then ask through `connect()`'s client.
 */
export async function earlyRequest(event, payload, timeoutMs = 6000) {
  const early = window.ultEarly?.request(event, payload);
  if (!early) return null;
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs, offline); });
  const ack = await Promise.race([early, late]);
  clearTimeout(timer);
  return ack === offline ? offline() : ack && answer(ack);
}

const offline = () => ({ ok: false, error: { code: "offline" } });

/** An answer as callers take it: an object (the server's clock learnt from it), else server_error. */
function answer(ack) {
  if (!ack || typeof ack !== "object") return { ok: false, error: { code: "server_error" } };
  noteServerTime(ack);
  return ack;
}

/** A wait in whole units: [amount, unit] pairs, e.g. 5400 s → [[1, "hour"], [30, "minute"]]
 * (split as ult/messages.py wait_parts does). */
function waitUnits(seconds) {
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 60) return [[minutes, "minute"]];
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours >= 24) return [[Math.round(hours / 24), "day"]];
  return rest ? [[hours, "hour"], [rest, "minute"]] : [[hours, "hour"]];
}

/** "42 minutes": a unit's text of the catalog for `n`, the form chosen by Intl.PluralRules. */
function unitText(n, unit) {
  const forms = WAITS.units?.[unit] || {};
  const template = forms[new Intl.PluralRules(LANG).select(n)] ?? forms.other ?? `{n} ${unit}`;
  return fill(template, { n: number(n) });
}

/**
 * 2520 → "42 minutes"; 5400 → "1 hour 30 minutes"; 20 → "a few seconds" — in the page's
 * language, from the words the server sends (ult/messages.py wait_words, as it words waits).
 */
export function humanDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < WAITS.few_seconds) return say("a_few_seconds");
  const parts = waitUnits(s).map(([n, unit]) => unitText(n, unit));
  return parts.length > 1 ? fill(WAITS.pair || "{a} {b}", { a: parts[0], b: parts[1] }) : parts[0];
}

/** "in 42 minutes", "in 1 hour 30 minutes" (the catalog's "in {wait}"). */
export function relativeWait(seconds) {
  return say("in_wait", { wait: humanDuration(seconds) });
}

/** A number in the page's language: 1234 → "1,234" (en), "1 234" (sv), "١٬٢٣٤" (ar). */
export function number(n) {
  return new Intl.NumberFormat(LANG).format(n);
}

/**
 * A plural text of the catalog for `n` ("points": 1 → "1 point", 2 → "2 points"): the form
 * is chosen by Intl.PluralRules, so Arabic gets its six forms.
 */
export function count(id, n, values = {}) {
  const forms = CATALOG.plurals?.[id] || {};
  const category = new Intl.PluralRules(LANG).select(n);
  const template = forms[category] ?? forms.other ?? `{n} ${id}`;
  return fill(template, { ...values, n: number(n) });
}

/** A date (with `withTime`, a date and time) in the page's language. */
export function dateText(ms, withTime = false) {
  const date = new Date(ms);
  return withTime
    ? date.toLocaleString(LOCALES, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleDateString(LOCALES);
}

/**
 * A time of day as the phone writes it in the page's language: "2:05 PM" (en-US), "14:05"
 * (sv), with `seconds` "2:05:09 PM". Hours are never padded: the locale decides.
 */
export function timeText(ms, { seconds = false, weekday = false } = {}) {
  const options = { hour: "numeric", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  if (weekday) options.weekday = "short";
  return new Intl.DateTimeFormat(LOCALES, options).format(new Date(Number(ms)));
}

/**
 * Progress toward the reward from a scan or card answer: {text, fraction, ready} or null
 * when the sponsor has no reward set. `text` is parts for `setText` (the reward is the
 * business's own words): "3 of 10 points — 7 more for …" (the plural follows the goal),
 * then "12 points — enough for …!" once the goal is passed.
 */
export function progress({ points, points_needed: needed, reward }) {
  needed = Number(needed) || 0;
  points = Number(points) || 0;
  if (needed <= 0 || !reward) return null;
  const ready = points >= needed;
  const text = ready
    ? count("progress_ready", points, { reward: own(reward) })
    : count("progress", needed, { points: number(points), more: number(needed - points), reward: own(reward) });
  return { text, fraction: Math.min(1, points / needed), ready };
}

// The wording of every answer, the field formats and the text limits, sent by the server in
// the page's config (ult/messages.py, ult/validation.py): declared once, on the server.
const CONFIG = pageConfig();
const CATALOG = CONFIG.messages || { errors: {}, retryable: [], texts: {}, plurals: {} };
const WAITS = CATALOG.waits || {};
/** The page's language (the server chose it from the browser's Accept-Language). */
export const LANG = CATALOG.lang || document.documentElement.lang || "en";
/** The phone's own locales of the page's language first (en-GB writes 14:05, en-US 2:05 PM). */
const LOCALES = [
  ...(navigator.languages || []).filter((tag) => tag.split("-")[0].toLowerCase() === LANG),
  LANG,
];

/** A text of the catalog with its {placeholders} filled in. */
export function say(id, values = {}) {
  return fill(CATALOG.texts[id] || id, values);
}

const isParts = (value) => value instanceof Node || Array.isArray(value);

/** `template` with its {placeholders} filled: a string, or — when a value is a node (`own`)
 * or parts — the sentence as parts (strings and nodes) for `setText`. */
function fill(template, values) {
  const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  if (!names.some((name) => isParts(values[name]))) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }
  return template.split(/(\{\w+\})/).filter(Boolean).flatMap((part) => {
    const name = part.match(/^\{(\w+)\}$/)?.[1];
    if (!name || !(name in values)) return [part];
    return isParts(values[name]) ? [values[name]].flat() : [String(values[name])];
  });
}

/** The longest text of a kind ("business_name") in characters (ult/validation.py LIMITS);
 * Infinity for a kind the config does not name, so nothing is cut to nothing. */
export function limit(name) {
  return Number(CONFIG.limits?.[name]) || Infinity;
}

/** A field format of docs/protocol.md as an anchored RegExp (never matches if unknown). */
export function format(name) {
  const source = CONFIG.formats?.[name];
  return source ? new RegExp(`^(?:${source})$`) : /(?!)/;
}

/** A headline, a line of advice and whether a retry may help, for an error answer (a text
 * naming the business's reward is parts for `setText`). */
export function friendlyError(ack) {
  let code = ack?.error?.code || "server_error";
  if (code === "offline" && navigator.onLine !== false) code = "no_answer";
  const words = CATALOG.errors[code] || CATALOG.errors.server_error || { title: code, detail: "" };
  const missing = Number(ack?.points_needed) - Number(ack?.points);
  const values = {
    wait: humanDuration(ack?.next_scan_in),
    missing: count("more_points", Math.max(missing, 0)),
    reward: ack?.reward ? own(ack.reward) : say("your_reward"),
  };
  return {
    code,
    title: fill(words.title, values),
    detail: fill(words.detail, values),
    retry: CATALOG.retryable.includes(code),
  };
}
