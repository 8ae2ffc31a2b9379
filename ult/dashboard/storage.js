// The browser side of BrowserStore: mirrors one localStorage entry into the widget model.
//
// Once per model (see `start`): read the entry, give the profile an owner id if it has none,
// report the browser's timezone offset and language, then set `loaded` so the kernel can tell
// "nothing saved" from "not synced yet". When the kernel changes `value`, the entry is written
// back merged with what is stored (another tab may have added a business meanwhile); when
// another tab writes the entry, the model is updated.

function readEntry(key) {
  try {
    const raw = window.localStorage.getItem(key);
    const data = raw ? JSON.parse(raw) : {};
    return data && typeof data === "object" && !Array.isArray(data) ? data : {};
  } catch (err) {
    return null; // storage blocked (privacy settings) or unreadable
  }
}

function writeEntry(key, data) {
  try {
    window.localStorage.setItem(key, JSON.stringify(data));
    return true;
  } catch (err) {
    return false;
  }
}

function newUid() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Voilà shuts a page's kernel down on `beforeunload` with a POST carrying the `_xsrf` cookie's
// value, but standalone Voilà never sets that cookie: the POST was refused (403) and kernels
// (with their live readers) outlived their pages. A random token in the cookie lets the
// double-submit check pass; another site can neither read nor set it.
function ensureXsrfCookie() {
  if (/(^|;\s*)_xsrf=/.test(document.cookie)) return;
  document.cookie = `_xsrf=${newUid()}; path=/; SameSite=Strict`;
}

// The pass the server gave for a business whose owner key it accepted (keyguard.py): a
// signed business id, no personal data. Sent with every page request, it admits this browser
// from the pages reserved for sponsors when anonymous pages fill the rest.
function keepPass(value) {
  if (!/^[a-z0-9-]{3,64}\.[0-9a-f]{32}$/.test(value || "")) return;
  const year = 365 * 24 * 3600;
  document.cookie = `ult_pass=${value}; path=/; max-age=${year}; SameSite=Strict`;
}

function businessList(data) {
  return Array.isArray(data && data.businesses) ? data.businesses : [];
}

// Businesses are never dropped by a merge: the union by sid, `mine` winning field by field.
function merge(stored, mine) {
  const bySid = new Map();
  for (const b of businessList(stored)) if (b && b.sid) bySid.set(b.sid, b);
  for (const b of businessList(mine)) if (b && b.sid) bySid.set(b.sid, { ...bySid.get(b.sid), ...b });
  return {
    ...stored,
    ...mine,
    uid: stored.uid || mine.uid || newUid(),
    businesses: [...bySid.values()],
  };
}

function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

function same(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

// Once per model, but only from its first view: views are rendered after the widget manager
// has loaded every model of the page. Syncing earlier (in `initialize`) raced that loading:
// the kernel's answer to `loaded` rebuilds the page, and updates to models still loading
// were dropped, leaving the page stuck on "Opening your dashboard…".
const started = new WeakSet();

function start(model) {
  ensureXsrfCookie();
  const key = model.get("storage_key");
  let data = readEntry(key);
  if (data === null) {
    model.set("error", "blocked"); // a code: the kernel words it in the page's language
    data = {};
  }
  if (!data.uid) {
    data = { ...data, uid: newUid() };
    writeEntry(key, data);
  }
  model.set("value", data);
  model.set("tz_offset_min", new Date().getTimezoneOffset());
  model.set("locale", navigator.language || "");
  model.set("loaded", true);
  model.save_changes();

  // The page's title in the dashboard's language (the notebook's own title is English).
  const title = () => { if (model.get("title")) document.title = model.get("title"); };
  title();
  model.on("change:title", title);
  keepPass(model.get("owner_pass"));
  model.on("change:owner_pass", () => keepPass(model.get("owner_pass")));
  model.on("change:value", () => {
    const merged = merge(readEntry(key) || {}, model.get("value") || {});
    let changed = false;
    if (!writeEntry(key, merged)) {
      model.set("error", "refused");
      changed = true;
    }
    if (!same(merged, model.get("value"))) {
      model.set("value", merged);
      changed = true;
    }
    if (changed) model.save_changes();
  });
  window.addEventListener("storage", (event) => {
    if (event.key !== key) return;
    const merged = merge(readEntry(key) || {}, model.get("value") || {});
    if (!same(merged, model.get("value"))) {
      model.set("value", merged);
      model.save_changes();
    }
  });
}

function render({ model, el }) {
  el.classList.add("ult-store");
  if (!started.has(model)) {
    started.add(model);
    start(model);
  }
}

export default { render };
