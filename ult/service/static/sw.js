// ULT service worker: keeps the app shell so the wallet opens offline, and a sponsor's scan
// page so that scanning the same QR again needs no page from the network.
// Scan pages: from the cache when this phone has scanned there before, refreshed in the
// background a while later (not on the link while the visit is being counted); the visit
// itself always goes to the server over Socket.IO. Offline, a scan page is static/offline.html.
// Versioned static files (/static/v/<version>/…) never change: from the cache first.
// Everything else of the shell: network first (a deploy shows up at once), the cache when the
// network fails. The server puts its static version in VERSION, so a deploy updates the worker.
const VERSION = "__ULT_STATIC_VERSION__";
const CACHE = `ult-shell-${VERSION}`;
const PAGES = "ult-scan-pages"; // kept across deploys: a page names its own versioned files
const STATIC = `/static/v/${VERSION}`;
const REFRESH_AFTER_MS = 5000;
const SHELL = [
  "/wallet",
  "/manifest.webmanifest",
  "/static/offline.html",
  `${STATIC}/css/ult.css`,
  `${STATIC}/js/cards.js`,
  `${STATIC}/js/claim.js`,
  `${STATIC}/js/common.js`,
  `${STATIC}/js/passes.js`,
  `${STATIC}/js/promos.js`,
  `${STATIC}/js/wallet.js`,
  `${STATIC}/vendor/socket.io.min.js`,
  "/static/icons/ui.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
];

const isScanPage = (url) => url.pathname.startsWith("/s/");

/** The scan pages open in a tab right now (the one that registered this worker, usually). */
async function openScanPages() {
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return [...new Set(tabs.map((tab) => new URL(tab.url)).filter(isScanPage).map((url) => url.pathname))];
}

/** Fetch a scan page, and keep it (`stored` settles once it is); a sponsor that is gone leaves. */
async function fetchScanPage(request) {
  const response = await fetch(request);
  const copy = response.ok ? response.clone() : null;
  const key = pageKey(request);
  const stored = caches.open(PAGES).then((pages) =>
    copy ? pages.put(key, copy) : response.status === 404 ? pages.delete(key) : null
  );
  return { response, stored };
}

async function keepScanPage(request) {
  await (await fetchScanPage(request)).stored;
}

// One entry per sponsor page: the QR's ?at=&code= are read by the page, not by the server.
const pageKey = (request) => new URL(request.url).pathname;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      for (const path of await openScanPages()) await keepScanPage(new Request(path)).catch(() => {});
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  const keep = new Set([CACHE, PAGES]);
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => !keep.has(n)).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

const offlinePage = async () => (await caches.match("/static/offline.html")) || Response.error();
const later = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function scanPage(event) {
  if (self.navigator.onLine === false) return offlinePage();
  return caches.open(PAGES).then(async (pages) => {
    const hit = await pages.match(pageKey(event.request));
    if (!hit) {
      return fetchScanPage(event.request)
        .then(({ response, stored }) => (event.waitUntil(stored.catch(() => {})), response))
        .catch(offlinePage);
    }
    // Served from here; the page is refreshed after the visit had the link to itself.
    event.waitUntil(later(REFRESH_AFTER_MS).then(() => keepScanPage(new Request(pageKey(event.request)))).catch(() => {}));
    return hit;
  });
}

function networkFirst(event, url) {
  return fetch(event.request)
    .then((response) => {
      if (response.ok) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(event.request, copy));
      }
      return response;
    })
    .catch(() =>
      caches.match(event.request, { ignoreSearch: url.pathname === "/wallet" }).then((hit) => hit || Response.error())
    );
}

async function cacheFirst(event) {
  const hit = await caches.match(event.request);
  if (hit) return hit;
  const response = await fetch(event.request);
  if (response.ok) {
    const copy = response.clone();
    event.waitUntil(caches.open(CACHE).then((cache) => cache.put(event.request, copy)));
  }
  return response;
}

function isShell(url) {
  return url.pathname === "/wallet" || url.pathname === "/manifest.webmanifest" ||
    url.pathname.startsWith("/static/");
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/socket.io/")) return; // straight to the network
  if (event.request.mode === "navigate" && isScanPage(url)) event.respondWith(scanPage(event));
  else if (url.pathname.startsWith("/static/v/")) event.respondWith(cacheFirst(event));
  else if (isShell(url)) event.respondWith(networkFirst(event, url));
});
