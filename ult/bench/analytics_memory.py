"""Memory and time of loading a big stream ("loading 200,000 entries stays under a
stated memory bound"). Run it with ``python benchmarks/analytics_memory.py``; ``ult bench``
can call :func:`run`.

Entries are written straight into one stream with XADD (scan-like fields, 32-hex card ids),
then loaded by :func:`ult.analytics.load_stream` in a fresh Python process, so the peak
resident memory it reports belongs to the load alone: ``peak_rss_mb`` is the growth of the
process's peak RSS over its RSS just before loading (after imports and a ten-entry warm-up
load). ``tracemalloc_peak_mb``
(Python objects) and ``arrow_peak_mb`` (Arrow buffers) come from a second, traced load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

ENTRIES = 200_000
BOUND_MB = 100  # stated bound on peak RSS growth while loading ENTRIES entries (measured ~55–65)
SID = "bench-analytics"
TAGS = ("till", "table-1", "table-2", "table-3", "table-4", None, None)


def write_entries(
    r: redis.Redis, sid: str = SID, entries: int = ENTRIES, cards: int = 20_000
) -> str:
    """Fill ``sid``'s events stream with ``entries`` scan-like entries, one a minute."""
    import numpy as np

    from ult.keys import sponsor_keys
    from ult.schema import F

    key = sponsor_keys(sid).events
    r.delete(key)
    rng = np.random.default_rng(0)
    ids = [rng.bytes(16).hex() for _ in range(cards)]
    visits = [0] * cards
    start_ms = 1_700_000_000_000
    pipe = r.pipeline(transaction=False)
    for i in range(entries):
        card = int(rng.integers(cards))
        fields: dict[FieldT, EncodableT]
        if rng.random() < 0.08:
            fields = {F.KIND: "refused", F.CARD: ids[card], F.REASON: "cooldown"}
        else:
            visits[card] += 1
            fields = {F.KIND: "scan", F.CARD: ids[card], F.VISIT: visits[card], F.POINTS: 1}
            tag = TAGS[int(rng.integers(len(TAGS)))]
            if tag:
                fields[F.TAG] = tag
        pipe.xadd(key, fields, id=f"{start_ms + i * 60_000}-0")
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    return key


def measure(url: str, sid: str = SID) -> dict[str, float]:
    """Load ``sid`` in this process; time, RSS growth and traced peaks (call in a fresh one)."""
    import gc
    import resource
    import tracemalloc

    import psutil
    import pyarrow as pa

    from ult.analytics.loading import connect, load_stream

    r = connect(url)
    load_stream(r, sid, progress=False, end="1700000600000")  # warm up: lazy imports, caches
    gc.collect()
    before = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    df = load_stream(r, sid, progress=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    frame_mb = df.memory_usage(deep=True).sum() / 2**20
    rows = len(df)
    del df
    gc.collect()
    pool = pa.default_memory_pool()
    tracemalloc.start()
    load_stream(r, sid, progress=False)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrow_peak = pool.max_memory()
    assert arrow_peak is not None  # None only from allocators that keep no peak; the defaults do
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "entries_per_s": round(rows / seconds),
        "peak_rss_mb": round(max(peak - before, 0) / 2**20, 1),
        "frame_mb": round(frame_mb, 1),
        "tracemalloc_peak_mb": round(traced / 2**20, 1),
        "arrow_peak_mb": round(arrow_peak / 2**20, 1),
    }


def run(url: str | None = None, entries: int = ENTRIES) -> dict[str, Any]:
    """Write ``entries`` entries (into a throwaway embedded server unless ``url``), load them
    in a fresh process, and return the figures with the stated bound."""
    from ult.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(tmp).start() if url is None else None
        target = server.url if server else url
        assert target is not None  # no embedded server: a url was given
        r = redis.Redis.from_url(target, decode_responses=True)
        try:
            t0 = time.perf_counter()
            key = write_entries(r, entries=entries)
            write_s = time.perf_counter() - t0
            figures = _measure_in_child(target)
        finally:
            if url is not None:
                r.delete(key)
            r.close()
            if server:
                server.stop()
    bound = BOUND_MB * entries / ENTRIES
    return figures | {
        "write_seconds": round(write_s, 2),
        "bound_mb": bound,
        "within_bound": figures["peak_rss_mb"] <= bound,
    }


def _measure_in_child(url: str) -> dict[str, float]:
    code = f"import json; from ult.bench.analytics_memory import measure; print(json.dumps(measure({url!r})))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(figures: dict[str, Any]) -> str:
    """The figures as the lines the benchmark prints."""
    ok = "within" if figures["within_bound"] else "OVER"
    return "\n".join(
        [
            f"Loaded {figures['rows']:,} entries in {figures['seconds']:.2f} s "
            f"({figures['entries_per_s']:,} entries/s)",
            f"Peak memory while loading: +{figures['peak_rss_mb']:.0f} MB RSS "
            f"(bound: {figures['bound_mb']:.0f} MB — {ok} the bound)",
            f"  the resulting DataFrame: {figures['frame_mb']:.0f} MB; traced Python peak "
            f"{figures['tracemalloc_peak_mb']:.0f} MB; Arrow peak {figures['arrow_peak_mb']:.0f} MB",
        ]
    )
