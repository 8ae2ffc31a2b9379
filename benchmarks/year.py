"""A year in minutes: a year of scans at 1,000 businesses through the service's scan script on
a moving clock, with the lake's schedule of `ult up` (archive and trim weekly, compaction when
due); prints Redis memory, cards, stream entries and the lake by month, then the notebooks'
cohort query over the year and whether every card back from the lake scanned on. Figures are
printed, never asserted (tests/test_year_bench.py holds the quick run to bounds).

    .venv/bin/python benchmarks/year.py [--businesses N] [--days D] [--cards-per-business C]
        [--trim-days N] [--archive-every-days N] [--quick] [--json]

Everything is throwaway: an embedded Valkey and the lake under a temporary directory (on
tmpfs when there is one), see ult/bench/year.py.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import fields, replace

from ult.bench.year import QUICK, Month, YearConfig, YearResult, run_year

MONTH_HEADER = (
    f"{'month':<8} {'scans':>9} {'Redis MB':>9} {'cards':>9} {'entries':>9} "
    f"{'lake files':>10} {'lake MB':>8} {'wall s':>7}"
)


def month_line(m: Month) -> str:
    return (
        f"{m.month:<8} {m.scans:>9,} {m.used_memory_mb:>9.1f} {m.cards_in_redis:>9,} "
        f"{m.stream_entries:>9,} {m.lake_files:>10,} {m.lake_mb:>8.1f} {m.wall_s:>7.1f}"
    )


def summary(res: YearResult) -> str:
    c = res.continuity
    continued = "all continued" if c.returning_continued == c.returning else "SOME DID NOT"
    (fb, bb), (fa, ba) = res.lake_before_compaction, res.lake_after_compaction
    lines = [
        f"scans: {c.scans:,}, errors: {c.errors}, visits off the model: {c.wrong_visits}",
        f"returning cards (away > trim window): {c.returning:,}, {continued}",
        f"cards in Redis at the end: {res.cards_in_redis:,} "
        f"(seen in the last {res.config['trim_days']} days: {res.cards_seen_in_window:,})",
        f"lake: {fb:,} files, {bb / 1e6:.1f} MB before the final compaction; "
        f"{fa:,} files, {ba / 1e6:.1f} MB after ({res.scheduled_compactions} scheduled)",
        f"cohort query (weekly, whole year, DuckDB): view {res.cohort_view_s:.2f} s, "
        f"query {res.cohort_query_s:.2f} s, {res.cohort_weeks} cohorts",
        f"time by phase (s): {res.phase_s}",
        f"wall time: {res.wall_s:.0f} s on {res.machine['cores']} cores "
        f"({res.machine['cpu_model']}; load at start {res.machine['load_avg_at_start']})",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = YearConfig()
    for f in fields(YearConfig):
        if f.name != "start_ms":
            flag = "--" + f.name.replace("_", "-")
            parser.add_argument(flag, type=int, default=getattr(defaults, f.name))
    parser.add_argument("--quick", action="store_true", help="5 businesses, 90 days")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    # stopped (Ctrl-C, kill): the Valkey and the temporary directory go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    chosen = {f.name: getattr(args, f.name) for f in fields(YearConfig) if f.name != "start_ms"}
    config = replace(YearConfig(**chosen), **(QUICK if args.quick else {}))
    if not args.json:
        print(f"{config}\n{MONTH_HEADER}", flush=True)
    res = run_year(
        config, on_month=None if args.json else lambda m: print(month_line(m), flush=True)
    )
    print(json.dumps(res.to_dict(), indent=2) if args.json else summary(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
