"""Load 200,000 stream entries into a DataFrame; print the time and the peak memory next to
the stated bound. The figure is measured, not asserted by a test.

    .venv/bin/python benchmarks/analytics_memory.py [--entries N] [--url REDIS_URL] [--json]

Without ``--url`` it uses a throwaway embedded Valkey; with one it writes a temporary
``ult:{bench-analytics}:events`` stream there and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import json

from ult.bench.analytics_memory import ENTRIES, report, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--url", help="a Redis to use (default: a throwaway embedded one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(url=args.url, entries=args.entries)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
