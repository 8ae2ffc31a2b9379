"""The year benchmark's quick run (5 businesses, 90 days; benchmarks/year.py --quick) holds
its bounds: Redis keeps only the cards of the trim window, about the same number each month
(the population is steady), the lake ends in two files per business, and every card back from
the lake scans on from its visits."""

from __future__ import annotations

from ult.bench.year import QUICK, YearConfig, run_year


def test_a_quick_year_keeps_redis_to_the_window_and_cards_continue() -> None:
    config = YearConfig(**QUICK)
    res = run_year(config)  # in a temporary directory of its own, removed afterwards
    c = res.continuity
    print(f"\n{c}; Redis cards {res.cards_in_redis} (window {res.cards_seen_in_window})")
    print(f"lake {res.lake_before_compaction} -> {res.lake_after_compaction}; {res.phase_s}")
    assert c.scans > 1_000 and c.errors == 0 and c.wrong_visits == 0
    assert c.returning > 10 and c.returning_continued == c.returning
    # cards idle past the window left Redis; every card seen in it stayed
    assert res.cards_seen_in_window <= res.cards_in_redis <= res.cards_seen_in_window + 2
    files_before, _ = res.lake_before_compaction
    files_after, bytes_after = res.lake_after_compaction
    assert files_after <= 2 * config.businesses < files_before, "one event and one card file"
    assert 0 < bytes_after < 5_000_000
    assert [m.month for m in res.months] == ["2025-01", "2025-02", "2025-03"]
    assert max(m.stream_entries for m in res.months) < c.scans, "streams trimmed to the window"
    cards = [m.cards_in_redis for m in res.months]
    assert min(cards) >= 0.75 * max(cards), "a steady population: Redis flat month to month"
    assert res.cohort_weeks >= 10
