"""Registration's steps on a real Redis Cluster, where the sponsor's keys, ult:places and the
registry live on different slots: a dead registration is undone there too."""

from __future__ import annotations

from test_registration_steps import age, begun, places_have_businesses

from ult import keys
from ult.sponsors import _claim, list_sponsors, register


def test_a_registration_that_died_after_its_claim_is_undone_on_a_cluster(rcl):
    place = "local:cluster-crash"
    dead = begun(rcl, "Dead Café", place)
    assert _claim(rcl, place, dead)
    rcl.xadd(keys.REGISTRY, {"sid": dead, "biz": "Dead Café", "place_id": place})
    places_have_businesses(rcl)
    age(rcl, dead)
    reg = register(rcl, "Live Café", "Klustergatan 9", "SE", place)
    assert rcl.hget(keys.PLACES, place) == reg.sid
    assert not any(rcl.exists(key) for key in keys.sponsor_keys(dead).all())
    assert dead not in [s["sid"] for s in list_sponsors(rcl)]
    places_have_businesses(rcl)
