// Inlined at the top of the scan page: opens the Socket.IO websocket from the page's first
// bytes, while the rest of the page still loads. On slow mobile data a new connection costs
// several round trips; this way they overlap the page instead of following it.
//
// It speaks just enough Engine.IO 4 / Socket.IO 5 framing to save a round trip more, and the
// wait for the page's Socket.IO client (docs/protocol.md, "The scan page's early socket"):
// the Socket.IO CONNECT goes out as the socket opens, and the page's first request (the
// scan, `window.ultEarly.request`) right behind it, without waiting for either answer; the
// server reads a connection's packets in order, so the request finds the connection made.
//
// Then the page's Socket.IO client (common.js connect()) takes the socket: its first
// `new WebSocket(…)` to this origin's Engine.IO endpoint gets this very socket, with the
// events it has seen so far (open, the Engine.IO handshake, the connect's answer) replayed,
// and its own CONNECT is not sent (the server has one). The early request's answer stays
// here. If the socket fails before the client takes it, the client opens its own, as it
// always did; if no client takes it, it is closed.
(() => {
  const Native = window.WebSocket;
  if (!Native) return;
  const UNCLAIMED_MS = 10000;
  const CONNECT = "40"; // Engine.IO message (4) holding a Socket.IO CONNECT (0) to "/"
  const REFUSED = "44"; // … a CONNECT_ERROR: the server refused the connection
  // The early request's ack id: the page's client numbers its own from 0, never this far.
  const ACK_ID = 999999;
  const ACK = `43${ACK_ID}`; // … an ACK with that id
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let early = new Native(`${scheme}://${location.host}/socket.io/?EIO=4&transport=websocket`);
  const ws = early;
  const seen = []; // what the client missed: replayed when it takes the socket
  let pending = null; // {frame, settle} of the early request
  let claimed = false;
  const send = (data) => Native.prototype.send.call(ws, data);

  const note = (event) => seen.push(event);
  const gone = () => {
    early = null;
    settle(null);
  };
  // Only the socket's own events: not those replayed to the client.
  ws.addEventListener("open", (event) => {
    if (!event.isTrusted) return;
    send(CONNECT);
    if (pending) send(pending.frame);
    if (!claimed) note(event);
  });
  // Added before the client's handlers: the early request's answer never reaches them.
  ws.addEventListener("message", (event) => {
    if (!event.isTrusted) return;
    const data = typeof event.data === "string" ? event.data : "";
    if (pending && data.startsWith(ACK) && data[ACK.length] === "[") {
      event.stopImmediatePropagation();
      settle(JSON.parse(data.slice(ACK.length))[0]);
      return;
    }
    if (data.startsWith(REFUSED)) settle(null); // the request will never be answered
    if (!claimed) note(event);
  });
  ws.addEventListener("error", gone);
  ws.addEventListener("close", gone);

  function settle(answer) {
    const request = pending;
    pending = null;
    request?.settle(answer);
  }

  /**
   * Send `event` with `payload` on the early socket, now or as it opens: a Promise of the
   * answer, or of null when the socket is lost before it (or refused, or gone already, or
   * the page's client has it).
   */
  function request(event, payload) {
    if (!early || pending) return Promise.resolve(null);
    return new Promise((resolve) => {
      pending = { frame: `42${ACK_ID}${JSON.stringify([event, payload])}`, settle: resolve };
      if (ws.readyState === Native.OPEN) send(pending.frame);
    });
  }
  window.ultEarly = { request };

  function isEngineIO(target) {
    const url = new URL(target, location.href);
    return url.host === location.host && url.pathname === "/socket.io/" &&
      url.searchParams.get("EIO") === "4" && url.searchParams.get("transport") === "websocket";
  }

  function replay(events) {
    for (const e of events) {
      ws.dispatchEvent(e.type === "message" ? new MessageEvent("message", { data: e.data }) : new Event(e.type));
    }
  }

  /** The socket for the page's client: what it missed replayed, its CONNECT not sent. */
  function handOver() {
    early = null;
    claimed = true;
    let skipConnect = true; // the server has one: sent as the socket opened
    ws.send = (data) => {
      if (data === CONNECT && skipConnect) skipConnect = false;
      else send(data);
    };
    // The client sets its handlers right after `new`: hand it what it missed just after.
    const missed = seen.splice(0);
    queueMicrotask(() => replay(missed));
    return ws;
  }

  function WebSocket(target, protocols) {
    if (early && protocols === undefined && isEngineIO(target)) return handOver();
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
