"""Analytics over the scan streams, for the analyst notebooks.

Typical use::

    import ult.analytics as ua

    r = ua.connect()                       # REDIS_URL, else the embedded server of `make run`
    sponsors = ua.load_sponsors(r)         # the registry: businesses only, no customer data
    events = ua.load_events(r)             # every sponsor's stream as one DataFrame
    ua.show(ua.cohort_retention(events))   # a table that passed the k-anonymity guard
    ua.plots.cohorts(ua.cohort_retention(events))
    con = ua.duckdb(r)                     # SQL over the Parquet lake + the Redis tail

Loaders read the history archived by ``ult archive`` from the Parquet lake and the rest from
Redis, as one table (:mod:`.loading`); :mod:`.duck` runs SQL over the lake with DuckDB.

Loading (:mod:`.loading`), metrics (:mod:`.metrics`), the k-anonymity guard
(:mod:`.privacy`) and figures (:mod:`.plots`) live in their own modules; the common names
are re-exported here.
"""

from typing import Any

from ult.analytics.duck import (
    cohort_counts_sql,
    cohort_retention_sql,
    duckdb,
    lake_summary,
    peak_memory_mb,
)
from ult.analytics.loading import (
    connect,
    iter_frames,
    load_events,
    load_sponsors,
    load_stream,
)
from ult.analytics.metrics import (
    attempts_per_window,
    claim_status,
    cohort_counts,
    cohort_retention,
    earned_cards,
    event_counts,
    gap_distribution,
    gap_summary,
    guard_cohorts,
    hour_weekday,
    overview,
    points_needed_by_sid,
    promotion_lift,
    promotion_names,
    redemption,
    refusals,
    refusals_over_time,
    repeat_rate,
    retention_curve,
    reward_funnel,
    scans,
    scans_over_time,
    staff_activity,
    tag_counts,
    velocity_distribution,
    velocity_outliers,
    visit_frequency,
    visit_gaps,
    visits_per_card,
)
from ult.analytics.privacy import (
    DEFAULT_K,
    PrivacyError,
    check,
    default_k,
    is_guarded,
    set_default_k,
    show,
    suppress,
)
from ult.analytics.streams import iter_entries, sponsor_ids


def __getattr__(name: str) -> Any:
    """``ult.analytics.plots`` imports matplotlib only when first used."""
    if name == "plots":
        import importlib

        return importlib.import_module("ult.analytics.plots")
    raise AttributeError(f"module 'ult.analytics' has no attribute {name!r}")


__all__ = [
    "DEFAULT_K",
    "PrivacyError",
    "attempts_per_window",
    "check",
    "claim_status",
    "redemption",
    "staff_activity",
    "cohort_counts",
    "cohort_counts_sql",
    "cohort_retention",
    "cohort_retention_sql",
    "connect",
    "default_k",
    "duckdb",
    "earned_cards",
    "promotion_lift",
    "promotion_names",
    "event_counts",
    "gap_distribution",
    "gap_summary",
    "guard_cohorts",
    "hour_weekday",
    "is_guarded",
    "iter_entries",
    "iter_frames",
    "lake_summary",
    "load_events",
    "load_sponsors",
    "load_stream",
    "overview",
    "peak_memory_mb",
    "plots",
    "points_needed_by_sid",
    "refusals",
    "refusals_over_time",
    "repeat_rate",
    "retention_curve",
    "reward_funnel",
    "scans",
    "scans_over_time",
    "set_default_k",
    "show",
    "sponsor_ids",
    "suppress",
    "tag_counts",
    "velocity_distribution",
    "velocity_outliers",
    "visit_frequency",
    "visit_gaps",
    "visits_per_card",
]
