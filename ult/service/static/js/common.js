// Shared by the scan page and the wallet: config, the Socket.IO connection, plain words.

/** The JSON the server rendered into <script type="application/json" id="ult-config">. */
export function pageConfig() {
  try {
    return JSON.parse(document.getElementById("ult-config")?.textContent || "{}") || {};
  } catch {
    return {};
  }
}

/** A new element with a class and text (always textContent: nothing is parsed as HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function registerServiceWorker() {
  if ("serviceWorker" in navigator) {
    // Installing is a nicety (the wallet opens offline); a page works without it.
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
}

/** The Socket.IO connection to this origin (websocket only, like every ULT client). */
export function connect() {
  // `io` is the global of the vendored /static/vendor/socket.io.min.js.
  // timeout: a connection attempt that hangs (captive portal, dead Wi-Fi) fails after 5 s and
  // is retried, instead of after the default 20 s.
  return window.io({ transports: ["websocket"], reconnectionDelayMax: 4000, timeout: 5000 });
}

/**
 * Emit `event` and resolve with its acknowledgement. Never rejects: a lost connection or a
 * missing ack resolves as {ok: false, error: {code: "offline"}} so callers have one shape.
 */
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

export function request(socket, event, payload, timeoutMs = 6000) {
  return new Promise((resolve) => {
    socket.timeout(timeoutMs).emit(event, payload, (err, ack) => {
      if (err) {
        resolve({ ok: false, error: { code: "offline", message: "No answer from the server." } });
      } else if (!ack || typeof ack !== "object") {
        resolve({ ok: false, error: { code: "server_error", message: "Unexpected answer." } });
      } else {
        noteServerTime(ack);
        resolve(ack);
      }
    });
  });
}

/** 2520 → "42 minutes"; 5400 → "1 hour 30 minutes"; 20 → "a few seconds". */
export function humanDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 45) return "a few seconds";
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return plural(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours >= 24) {
    const days = Math.round(hours / 24);
    return plural(days, "day");
  }
  return rest ? `${plural(hours, "hour")} ${plural(rest, "minute")}` : plural(hours, "hour");
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * Progress toward the reward from a scan or card answer: {text, fraction, ready} or null
 * when the sponsor has no reward set.
 */
export function progress({ points, points_needed: needed, reward }) {
  needed = Number(needed) || 0;
  points = Number(points) || 0;
  if (needed <= 0 || !reward) return null;
  const ready = points >= needed;
  const text = ready
    ? `${points} of ${needed} points — enough for ${reward}!`
    : `${points} of ${needed} points — ${needed - points} more for ${reward}`;
  return { text, fraction: Math.min(1, points / needed), ready };
}

/** A headline and a line of advice for every error code of docs/protocol.md. */
export function friendlyError(ack) {
  const code = ack?.error?.code || "server_error";
  const wait = Number(ack?.next_scan_in) > 0 ? humanDuration(ack.next_scan_in) : null;
  switch (code) {
    case "cooldown":
      return {
        code,
        title: "Already counted — thanks!",
        detail: wait ? `Your next visit counts in ${wait}.` : "Your next visit counts a little later.",
      };
    case "daily_cap":
      return {
        code,
        title: "That's all the visits for today",
        detail: wait ? `Your next visit counts in ${wait}.` : "Come back tomorrow — it will count then.",
      };
    case "unknown_sponsor":
      return {
        code,
        title: "We don't know this business",
        detail: "This QR code isn't (or is no longer) part of ULT. Ask the staff about it.",
      };
    case "code_required":
      return {
        code,
        title: "Scan the code at the counter",
        detail: "This place counts visits with the QR code shown on the screen at the counter.",
      };
    case "code_invalid":
      return {
        code,
        title: "That code has changed",
        detail: "The counter code changes every few minutes. Scan the one on the screen again.",
      };
    case "rate_limited":
      return {
        code,
        title: "One moment…",
        detail: "Too many tries at once. Wait a few seconds and try again.",
        retry: true,
      };
    case "bad_request":
      return {
        code,
        title: "This link looks damaged",
        detail: "Scan the QR code again. If it keeps happening, ask the staff.",
      };
    case "not_enough_points": {
      const missing = Number(ack.points_needed) - Number(ack.points);
      const detail = missing > 0
        ? `${plural(missing, "more point")} for ${ack.reward || "your reward"}.`
        : "Keep visiting — your reward is on its way.";
      return { code, title: "Not enough points yet", detail };
    }
    case "offline":
      return {
        code,
        title: "Can't reach ULT",
        detail: navigator.onLine === false
          ? "This phone is offline. Your visit will count when you try again with a connection."
          : "The server isn't answering. Your visit hasn't counted yet — try again.",
        retry: true,
      };
    case "unavailable":
      return {
        code,
        title: "ULT is having a moment",
        detail: "Your visit hasn't counted yet. Please try again in a minute.",
        retry: true,
      };
    case "storage_full":
      return {
        code,
        title: "We can't save visits right now",
        detail: "Your visit hasn't counted yet. Please try again later.",
        retry: true,
      };
    case "too_many_new_cards":
      return {
        code,
        title: "Lots of new cards from here",
        detail: "Many new cards were just started on this network. Try again in a minute.",
        retry: true,
      };
    case "storage":
      return {
        code,
        title: "This browser won't keep your card",
        detail:
          "Your card lives on this phone, but storage is blocked (private mode?). " +
          "Open the page in a normal tab.",
      };
    default:
      return {
        code,
        title: "Something went wrong",
        detail: "That's on us, not you. Please try again.",
        retry: true,
      };
  }
}
