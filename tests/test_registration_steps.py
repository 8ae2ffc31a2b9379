"""Registration is four steps on three hash slots (ult/sponsors.py): a crash between any two
never leaves a place taken with no business, and the next registration of that place undoes
(or, for the same business, redoes) what the dead one left."""

from __future__ import annotations

import pytest

from ult import keys, ops, run
from ult.errors import UltError
from ult.identity import make_sid
from ult.rules import Rule
from ult.sponsors import (
    PENDING_GRACE_MS,
    _begin,
    _claim,
    _step,
    check_owner,
    get_profile,
    list_sponsors,
    register,
)

PLACE = "local:crash"


def places_have_businesses(r) -> None:
    """The invariant: every claimed place's business exists."""
    for place, sid in r.hgetall(keys.PLACES).items():
        assert r.exists(keys.sponsor_keys(sid).profile), f"{place} is taken by no business"


def begun(r, name: str, place: str = PLACE) -> str:
    """Step 1 of a registration that then dies: returns its sid."""
    sid = make_sid(name, place)
    profile = {
        "sid": sid,
        "biz": name,
        "place_id": place,
        "formatted_address": "Storgatan 1, Sweden",
        "country": "SE",
        "verified": "0",
        "owner_hash": "x",
    }
    _begin(r, profile, Rule(), 1_700_000_000_000)
    return sid


def age(r, sid: str) -> None:
    """Let the dead registration's grace period pass (its pending time goes back)."""
    profile = keys.sponsor_keys(sid).profile
    r.hincrby(profile, "pending_ms", -PENDING_GRACE_MS - 1)


def test_a_crash_after_the_profile_leaves_the_place_free_and_is_redone(r):
    sid = begun(r, "Fika Sisters")
    assert r.hget(keys.PLACES, PLACE) is None and list_sponsors(r) == []
    places_have_businesses(r)
    with pytest.raises(UltError, match="being registered right now"):
        register(r, "Fika Sisters", "Storgatan 1", "SE", PLACE)  # it may still be running
    age(r, sid)
    reg = register(r, "Fika Sisters", "Storgatan 1", "SE", PLACE)
    assert reg.sid == sid and r.hget(keys.PLACES, PLACE) == sid
    assert run(r, check_owner(sid, reg.owner_key)).biz == "Fika Sisters"
    assert not r.hexists(keys.sponsor_keys(sid).profile, "pending")
    assert [s["sid"] for s in list_sponsors(r)] == [sid]
    events = r.xrange(keys.sponsor_keys(sid).events)
    assert [f["t"] for _, f in events] == ["registered"]  # the dead one's event went with it


@pytest.mark.parametrize("listed", [False, True], ids=["claimed", "claimed and listed"])
def test_a_crash_after_the_claim_is_undone_by_the_next_registration(r, listed):
    dead = begun(r, "Old Name")
    assert _claim(r, PLACE, dead)
    if listed:
        r.xadd(keys.REGISTRY, {"sid": dead, "biz": "Old Name", "place_id": PLACE})
    places_have_businesses(r)  # taken, but by a (pending) business
    with pytest.raises(UltError, match="already registered"):
        register(r, "New Name", "Storgatan 1", "SE", PLACE)  # within the grace period
    places_have_businesses(r)
    age(r, dead)
    reg = register(r, "New Name", "Storgatan 1", "SE", PLACE)
    assert r.hget(keys.PLACES, PLACE) == reg.sid != dead
    assert not any(r.exists(key) for key in keys.sponsor_keys(dead).all())
    assert [s["sid"] for s in list_sponsors(r)] == [reg.sid]
    places_have_businesses(r)


def test_a_claim_without_any_profile_is_given_back(r):
    r.hset(keys.PLACES, PLACE, "ghost-1234")  # left by a crash of an older version
    reg = register(r, "Fika", "Storgatan 1", "SE", PLACE)
    assert r.hget(keys.PLACES, PLACE) == reg.sid


def test_a_registration_that_stalled_past_its_grace_period_cannot_finish(r):
    stalled = begun(r, "Slow Café")
    token = r.hget(keys.sponsor_keys(stalled).profile, "pending")
    assert _claim(r, PLACE, stalled)
    age(r, stalled)
    winner = register(r, "Quick Café", "Storgatan 1", "SE", PLACE)
    # the stalled one wakes up: its last step fails, so it reports the place as taken
    assert ops.run(r, _step("finish", [keys.sponsor_keys(stalled).profile], token)) == "lost"
    assert r.hget(keys.PLACES, PLACE) == winner.sid
    assert run(r, get_profile(stalled)) is None
    places_have_businesses(r)


def test_a_finished_registration_is_never_undone(r):
    reg = register(r, "Fika", "Storgatan 1", "SE", PLACE)
    r.hset(keys.sponsor_keys(reg.sid).profile, "pending_ms", 0)  # however old
    with pytest.raises(UltError, match="already registered"):
        register(r, "Other", "Storgatan 1", "SE", PLACE)
    assert run(r, check_owner(reg.sid, reg.owner_key)).sid == reg.sid
    assert [s["sid"] for s in list_sponsors(r)] == [reg.sid]
