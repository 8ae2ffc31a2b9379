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

Loading (:mod:`.loading`), the figures (:mod:`.figures`, one module per family), the
k-anonymity guard (:mod:`.privacy`) and plots (:mod:`.plots`) live in their own modules; the
common names are re-exported here.
"""

from typing import Any

from ult.analytics.duck import (
    cohort_counts_sql,
    cohort_retention_sql,
    duckdb,
    lake_summary,
    peak_memory_mb,
)
from ult.analytics.figures.activity import (
    event_counts,
    hour_weekday,
    overview,
    scans_over_time,
    tag_counts,
)
from ult.analytics.figures.claims import claim_status, redemption, staff_activity
from ult.analytics.figures.cohorts import (
    cohort_counts,
    cohort_retention,
    guard_cohorts,
    retention_curve,
)
from ult.analytics.figures.promotions import promotion_lift, promotion_names
from ult.analytics.figures.refusals import (
    attempts_per_window,
    refusals,
    refusals_over_time,
    velocity_distribution,
    velocity_outliers,
)
from ult.analytics.figures.rewards import earned_cards, points_needed_by_sid, reward_funnel
from ult.analytics.figures.selection import scans
from ult.analytics.figures.visits import (
    gap_distribution,
    gap_summary,
    repeat_rate,
    visit_frequency,
    visit_gaps,
    visits_per_card,
)
from ult.analytics.loading import (
    connect,
    iter_frames,
    load_events,
    load_sponsors,
    load_stream,
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
