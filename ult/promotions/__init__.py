"""Promotions: a sponsor multiplies the points of scans while a promotion runs.

A promotion is a one-off window (``start_ms`` … ``end_ms``, UTC) or recurring weekday hours in
the sponsor's own time zone (e.g. Tue–Thu 14:00–17:00; ``to`` at or before ``from`` runs past
midnight into the next day). Overlapping promotions: the largest multiplier wins.

Storage (all under the sponsor's ``{sid}`` hash tag, see :mod:`ult.keys`):

- ``ult:{sid}:promos`` hash: promotion id → the promotion as JSON (what ``--list`` shows);
- the profile field ``promo_plan``: everything the scan script needs, compiled when the
  promotions or the time zone change — the promotions still to come, and the zone's UTC offsets
  from the save on (for :data:`.plan.PLAN_YEARS` years), so the script finds local time without a
  time-zone database (format: :func:`.plan.compile_plan`). The scan script reads it in the
  same ``HMGET`` as the business name: a sponsor without promotions costs the scan nothing more.
- the profile field ``tz``: the sponsor's IANA time zone (set at registration from the country
  when it has one zone, else from the UTC offset; ``ult promo --tz`` and the dashboard change it).

Every change is one script (``lua/promo.lua``) that checks the owner key, checks the promotions
did not change since they were read (else the change is retried), writes hash and plan, and
logs a ``promo`` event.

Modules: :mod:`.model` (a promotion), :mod:`.parsing` (checked user input), :mod:`.zones`
(time zones), :mod:`.plan` (the compiled plan) and :mod:`.storage` (reading and changing them
in Redis). The operations the CLI and the dashboard call are re-exported here.
"""

from ult.promotions.model import Promotion
from ult.promotions.parsing import new_promotion
from ult.promotions.storage import (
    add_promotion,
    delete_promotion,
    list_promotions,
    set_zone,
    sponsor_zone,
)
from ult.promotions.zones import zone_names

__all__ = [
    "Promotion",
    "add_promotion",
    "delete_promotion",
    "list_promotions",
    "new_promotion",
    "set_zone",
    "sponsor_zone",
    "zone_names",
]
