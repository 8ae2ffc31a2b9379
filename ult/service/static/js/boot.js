// Inlined at the top of the scan page: opens the Socket.IO websocket from the page's first
// bytes, while the rest of the page still loads. On slow mobile data a new connection costs
// several round trips; this way they overlap the page instead of following it.
//
// Nothing is sent on it: it waits for the page's Socket.IO client (common.js connect()),
// whose first `new WebSocket(…)` to this origin's Engine.IO endpoint gets this very socket,
// with the events it has seen so far (open, the Engine.IO handshake) replayed to the client.
// If it fails before that, the client opens its own, as it always did; if no client takes
// it, it is closed.
(() => {
  const Native = window.WebSocket;
  if (!Native) return;
  const UNCLAIMED_MS = 10000;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let early = new Native(`${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`);
  const seen = [];
  const note = (event) => seen.push(event);
  const drop = () => { early = null; };
  early.addEventListener("open", note);
  early.addEventListener("message", note);
  early.addEventListener("error", drop);
  early.addEventListener("close", drop);

  function isEngineIO(target) {
    const url = new URL(target, location.href);
    return url.host === location.host && url.pathname === "/socket.io/" &&
      url.searchParams.get("EIO") === "4" && url.searchParams.get("transport") === "websocket";
  }

  function replay(ws, events) {
    for (const e of events) {
      ws.dispatchEvent(e.type === "message" ? new MessageEvent("message", { data: e.data }) : new Event(e.type));
    }
  }

  function WebSocket(target, protocols) {
    const ws = early;
    if (ws && protocols === undefined && isEngineIO(target)) {
      early = null;
      ws.removeEventListener("open", note);
      ws.removeEventListener("message", note);
      ws.removeEventListener("error", drop);
      ws.removeEventListener("close", drop);
      // The client sets its handlers right after `new`: hand it what it missed just after.
      const missed = seen.splice(0);
      queueMicrotask(() => replay(ws, missed));
      return ws;
    }
    return protocols === undefined ? new Native(target) : new Native(target, protocols);
  }
  WebSocket.prototype = Native.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) WebSocket[name] = Native[name];
  window.WebSocket = WebSocket;

  setTimeout(() => early?.close(), UNCLAIMED_MS);
  // The answer is worded with Intl, whose first use loads the language's data: a slow phone
  // does that while it waits for the network, not after the answer came.
  setTimeout(() => {
    const lang = document.documentElement.lang || "en";
    new Intl.PluralRules(lang).select(1);
    new Intl.NumberFormat(lang).format(1);
  }, 0);
})();
