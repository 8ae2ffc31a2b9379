// The scan page's proof of work (docs/protocol.md, "Challenges"), off the page's thread so the
// words and the spinner stay alive: find the n in [0, maxnumber] whose SHA-256(salt + n), in
// hex, is the challenge. Posts {number, took_ms}, or {number: null} when there is none.
const BATCH = 256; // digests in flight at once: each crypto.subtle call costs more than its hash

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function same(digest, target) {
  const a = new Uint8Array(digest);
  for (let i = 0; i < target.length; i += 1) if (a[i] !== target[i]) return false;
  return true;
}

async function solve({ algorithm, challenge, salt, maxnumber }) {
  const encoder = new TextEncoder();
  const target = hexBytes(String(challenge).toLowerCase());
  for (let start = 0; start <= maxnumber; start += BATCH) {
    const end = Math.min(start + BATCH, maxnumber + 1);
    const digests = [];
    for (let n = start; n < end; n += 1) {
      digests.push(crypto.subtle.digest(algorithm, encoder.encode(salt + n)));
    }
    const found = (await Promise.all(digests)).findIndex((d) => same(d, target));
    if (found >= 0) return start + found;
  }
  return null;
}

self.onmessage = async ({ data }) => {
  const t0 = performance.now();
  let number = null;
  try {
    number = await solve(data);
  } catch {
    // An algorithm this browser lacks: the page goes on as if unsolved.
  }
  self.postMessage({ number, took_ms: Math.round(performance.now() - t0) });
};
