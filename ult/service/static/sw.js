// ULT service worker: keeps the app shell so the wallet opens offline.
// Network first (a deploy shows up at once), the cache only when the network fails.
// Socket.IO traffic and scan pages are never cached: a scan must reach the server (offline,
// a scan page falls back to static/offline.html, which says so).
const CACHE = "ult-shell-v3";
const SHELL = [
  "/wallet",
  "/manifest.webmanifest",
  "/static/offline.html",
  "/static/css/ult.css",
  "/static/js/cards.js",
  "/static/js/claim.js",
  "/static/js/common.js",
  "/static/js/promos.js",
  "/static/js/scan.js",
  "/static/js/wallet.js",
  "/static/vendor/socket.io.min.js",
  "/static/icons/ui.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

function isShell(url) {
  return url.pathname === "/wallet" || url.pathname === "/manifest.webmanifest" ||
    url.pathname.startsWith("/static/");
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/socket.io/")) return; // straight to the network
  if (!isShell(url)) {
    if (event.request.mode === "navigate" && url.pathname.startsWith("/s/")) {
      event.respondWith(
        fetch(event.request).catch(async () => (await caches.match("/static/offline.html")) || Response.error())
      );
    }
    return;
  }

  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(event.request, { ignoreSearch: url.pathname === "/wallet" }).then(
          (hit) => hit || Response.error()
        )
      )
  );
});
