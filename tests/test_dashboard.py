"""The sponsor dashboard without a browser: panels driven from Python, the Voilà launch, the
served page, and the notebook run headless.

``running_voila`` (tests/support/voila.py) starts a real Voilà for the slow and browser tests.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
import redis
from nbclient import NotebookClient
from support.dashboard import EVIL, fill, register_in
from support.voila import decode_qr, running_voila, wait_for_client
from support.wait import wait_until

from ult import run
from ult.clock import DAY_MS
from ult.dashboard import Context
from ult.dashboard.feed import feed_rows
from ult.dashboard.follower import StreamFollower
from ult.dashboard.launch import NOTEBOOK, TEMPLATE_ROOT, voila_command
from ult.dashboard.poster import numbered_spots, parse_spots, posters_document
from ult.dashboard.registration import NOT_VERIFIED
from ult.dashboard.storage import BrowserStore, Business
from ult.dashboard.today import DayStats, day_start_ms, read_day
from ult.errors import UltError
from ult.keys import sponsor_keys
from ult.places import OfflineResolver, Place
from ult.rules import get_rule
from ult.scans import scan
from ult.schema import Event
from ult.settings import load_settings
from ult.sponsors import check_owner, get_profile

CUSTOMER_KEY = "c" * 43


# --- in-process dashboard ----------------------------------------------------------------------


class FailingResolver:
    """A resolver that fails the way a broken dependency would."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def resolve(self, name: str, address: str, country: str) -> Place:
        raise self.exc


def test_first_run_shows_the_form_with_country_from_the_browser(make_dashboard) -> None:
    dash = make_dashboard()
    assert dash.body.children == (dash.register_box,)
    assert dash.form.name.value == ""
    assert dash.form.country.value == "SE"  # from navigator.language en-SE
    assert dash.selector.layout.display == "none"


def test_register_flow(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    fill(dash, "Fika Sisters", "Storgatan 1,  111 22 Stockholm")
    dash.form._on_validate()
    found = dash.form.found.value
    assert "Storgatan 1, 111 22 Stockholm, Sweden" in found
    assert "local:" in found and NOT_VERIFIED in found
    assert dash.form.confirm.layout.display == ""

    dash.form._on_approve()
    business = dash.current
    assert business is not None and business.biz == "Fika Sisters"
    profile = run(r, check_owner(business.sid, business.owner_key))
    assert profile.utc_offset_min == 60  # getTimezoneOffset() -60 is UTC+1
    assert profile.verified is False
    assert business.owner_key in dash.key.text.value  # shown once
    stored = dash.store.value["businesses"]
    assert (
        stored[0]["owner_key"] == business.owner_key and stored[0]["place_id"] == profile.place_id
    )
    assert dash.store.value["uid"] == "a" * 32
    assert dash.tabs.selected_index == 1  # QR & poster
    assert dash.body.children == (dash.tabs,)
    # the form is ready for another branch: the name kept, the address blank
    assert (dash.form.name.value, dash.form.address.value) == ("Fika Sisters", "")
    assert dash.live.following

    dash.key.hide()
    assert business.owner_key not in dash.key.text.value


def test_reopened_page_prefills_name_and_selects_last_business(make_dashboard) -> None:
    first = make_dashboard()
    one = register_in(first, "Fika Sisters", "Storgatan 1")
    two = register_in(first, "Fika Sisters", "Kungsgatan 2")
    again = make_dashboard(value=dict(first.store.value))
    assert again.form.name.value == "Fika Sisters" and again.form.address.value == ""
    assert [sid for _, sid in again.selector.options] == [one.sid, two.sid]
    assert again.current.sid == two.sid
    again.selector.value = one.sid
    assert again.current.sid == one.sid and "Storgatan 1" in again.title.value
    assert again.store.value["current"] == one.sid
    assert again.poster.business.sid == one.sid and again.rules.business.sid == one.sid


@pytest.mark.parametrize(
    ("name", "address", "country", "words"),
    [
        ("", "Storgatan 1", "SE", "Business name is required."),
        ("x" * 81, "Storgatan 1", "SE", "too long (81 characters, at most 80)"),
        ("Fika", "   ", "SE", "Business address is required."),
        ("Fika", "Storgatan 1", "", "Choose the country"),
    ],
)
def test_form_errors_in_plain_words(make_dashboard, name, address, country, words) -> None:
    dash = make_dashboard()
    fill(dash, name, address, country)
    dash.form._on_validate()
    assert words in dash.form.message.value
    assert dash.form.confirm.layout.display == "none"


def test_name_hint_warns_while_typing(make_dashboard) -> None:
    dash = make_dashboard()
    dash.form.name.value = "y" * 90
    assert "Too long: 90 characters" in dash.form.hint.value


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (UltError("google_denied", "Google refused the address look-up."), "Google refused"),
        (RuntimeError("Traceback (most recent call last): boom"), "Something went wrong"),
    ],
)
def test_resolver_failures_become_messages(make_dashboard, exc, words) -> None:
    dash = make_dashboard(resolver=FailingResolver(exc))
    fill(dash, "Fika", "Storgatan 1")
    dash.form._on_validate()
    assert words in dash.form.message.value
    assert "Traceback" not in dash.form.message.value
    assert dash.form.validate.description == "Validate address" and not dash.form.validate.disabled


def test_place_already_registered(make_dashboard) -> None:
    mine = make_dashboard()
    register_in(mine, "Fika Sisters", "Storgatan 1")
    fill(mine, "Fika Sisters", "Storgatan 1")
    mine.form._on_validate()
    mine.form._on_approve()
    assert "already registered on this browser" in mine.form.message.value

    other = make_dashboard(value={"uid": "b" * 32})  # another browser, same place
    fill(other, "Fika Sisters", "Storgatan 1")
    other.form._on_validate()
    other.form._on_approve()
    assert "already registered" in other.form.message.value
    assert other.current is None


def test_retry_returns_to_the_form(make_dashboard) -> None:
    dash = make_dashboard()
    fill(dash, "Fika", "Storgatan 1")
    dash.form._on_validate()
    dash.form._on_retry()
    assert dash.form.confirm.layout.display == "none" and dash.form.fields.layout.display == ""
    assert dash.form.address.value == "Storgatan 1"


def test_sponsor_text_is_escaped_everywhere(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    business = register_in(dash, EVIL, "<b>Main</b> street 1")
    pages = [
        dash.title.value,
        dash.key.text.value,
        dash.form.found.value,
        dash.poster.print.html,
        *(item.children[0].value for item in dash.poster.posters.children),
    ]
    for html in pages:
        assert "<img" not in html and "<b>Main" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in dash.title.value
    assert dict(dash.selector.options)  # plain-text labels: the browser shows them as text
    assert business.biz == EVIL


def test_import_business_with_owner_key(make_dashboard) -> None:
    first = make_dashboard()
    business = register_in(first, "Fika Sisters", "Storgatan 1")
    other = make_dashboard(value={"uid": "b" * 32})
    other.importer.sid.value = business.sid
    other.importer.key.value = "w" * 43
    other.importer._on_add()
    assert "does not match" in other.importer.message.value
    other.importer.key.value = business.owner_key
    other.importer._on_add()
    assert other.current.sid == business.sid and other.importer.key.value == ""
    assert other.body.children == (other.tabs,)


def test_unknown_stored_business_is_explained(make_dashboard) -> None:
    ghost = Business("ghost-cafe-1234", "Ghost Café", "local:x", "k" * 43, "Nowhere 1")
    dash = make_dashboard(value={"uid": "a" * 32, "businesses": [ghost.to_json()]})
    assert "Ghost Café" in dash.banner.value and "does not accept it" in dash.banner.value
    assert not dash.live.following


# --- storage -----------------------------------------------------------------------------------


def test_store_ignores_unusable_entries() -> None:
    good = Business("fika-1234", "Fika", "local:1", "k" * 43, "Storgatan 1").to_json()
    store = BrowserStore()
    store.value = {
        "uid": "f" * 32,
        "current": "nope",
        "businesses": [good, {"sid": "BAD SID"}, "junk", {**good, "owner_key": "short"}, None],
    }
    assert [b.sid for b in store.businesses()] == ["fika-1234"]
    assert store.current is None and store.uid == "f" * 32
    store.value = {"uid": "<script>", "businesses": "nope"}
    assert store.businesses() == [] and store.uid == ""


def test_store_refuses_writes_before_it_loaded() -> None:
    store = BrowserStore()
    with pytest.raises(UltError):
        store.add_business(Business("fika-1234", "Fika", "local:1", "k" * 43))


def test_store_keeps_every_business_and_browser_facts() -> None:
    store = BrowserStore()
    store.value, store.loaded = {"uid": "f" * 32}, True
    store.add_business(Business("fika-1234", "Fika", "local:1", "k" * 43))
    store.add_business(Business("fika-5678", "Fika", "local:2", "j" * 43))
    assert [b.sid for b in store.businesses()] == ["fika-1234", "fika-5678"]
    assert store.current == "fika-5678"
    store.set_current("fika-1234")
    assert store.current == "fika-1234" and store.value["uid"] == "f" * 32
    store.tz_offset_min, store.locale = 300, "en-US"  # New York in winter
    assert store.utc_offset_min == -300 and store.country_hint() == "US"
    store.tz_offset_min, store.locale = -99999, "sv"
    assert store.utc_offset_min == 840 and store.country_hint() is None


# --- live ----------------------------------------------------------------------------------------


def test_day_start_respects_the_offset() -> None:
    noon_utc = 20_000 * DAY_MS + 12 * 3600_000
    assert day_start_ms(noon_utc, 0) == 20_000 * DAY_MS
    assert day_start_ms(noon_utc, 14 * 60) == 20_001 * DAY_MS - 14 * 3600_000
    assert day_start_ms(noon_utc, -13 * 60) == 19_999 * DAY_MS + 13 * 3600_000  # 23:00 local


def test_day_stats_and_feed(r: redis.Redis, make_sponsor) -> None:
    sponsor = make_sponsor(cooldown_min=60)
    sid = sponsor["sid"]
    key = sponsor_keys(sid).events
    for customer in ("a", "b"):
        run(r, scan(sid, customer * 43, at="table-3"))
    with pytest.raises(UltError):
        run(r, scan(sid, "a" * 43))  # cooldown: a refusal
    last = r.xrevrange(key, count=1)[0][0]
    stats = read_day(r, key, day_start_ms(int(time.time() * 1000), 0), last)
    assert (stats.scans, len(stats.cards), stats.refused) == (2, 2, 1)
    yesterday = DayStats(day_start_ms(int(time.time() * 1000), 0) - DAY_MS)
    yesterday.add(Event(last, int(last.split("-")[0]), kind="scan", card="x"))
    assert yesterday.scans == 0

    at = 1_700_000_000_000
    [row] = feed_rows(
        [Event(f"{at}-0", at, kind="scan", card="ab" * 16, visit=2, points=1)], 0, set()
    )
    assert row.cells["card"] == "abababababab" and row.cells["what"].startswith("Visit 2")
    assert "ab" * 16 not in str(row.to_json())  # only the short anonymous id
    [evil] = feed_rows([Event(f"{at}-0", at, kind="scan", card="0" * 32, tag=EVIL)], 0, set())
    assert evil.cells["spot"] == EVIL  # plain text: table.js inserts it with textContent


def test_stream_follower_is_quick_and_stops(r: redis.Redis, redis_url: str) -> None:
    got: list[tuple[float, list]] = []
    follower = StreamFollower(
        lambda: redis.Redis.from_url(redis_url, decode_responses=True),
        "ult:{t}:events",
        "0-0",
        on_entries=lambda entries: got.append((time.monotonic(), entries)),
    ).start()
    time.sleep(0.3)
    sent = time.monotonic()
    r.xadd("ult:{t}:events", {"t": "scan", "c": "1" * 32})
    wait_until(lambda: got, 3, interval=0.01, message="the follower saw no entry")
    assert got[0][0] - sent < 0.5
    started = time.monotonic()
    follower.stop(wait=True)
    assert not follower.running and time.monotonic() - started < 2.5


def test_live_panel_follows_scans_and_stops_on_close(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    run(r, scan(business.sid, CUSTOMER_KEY, at="table-3"))
    wait_until(lambda: "table-3" in str(dash.live.feed.rows), 3, message="scan not in the feed")
    assert '<span class="ult-stat-value">1</span><span class="ult-stat-label">scans today' in (
        dash.live.stats_view.value
    )
    wait_until(lambda: "Visits" in dash.live.loyal.value, 6, message="no loyalists table")
    assert "<td>1</td>" in dash.live.loyal.value
    assert wait_for_client(r, f"ult-live-{business.sid}", present=True)
    dash.live.widget.close()  # the page's widget closing stops its reader
    assert not dash.live.following
    assert wait_for_client(r, f"ult-live-{business.sid}", present=False)


def test_switching_business_restarts_the_reader(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    one = register_in(dash, "Fika Sisters", "Storgatan 1")
    two = register_in(dash, "Fika Sisters", "Kungsgatan 2")
    assert wait_for_client(r, f"ult-live-{two.sid}", present=True)
    started = time.monotonic()
    dash.select(one.sid)
    assert time.monotonic() - started < 0.5  # switching never waits for the old reader
    assert wait_for_client(r, f"ult-live-{one.sid}", present=True)
    assert wait_for_client(r, f"ult-live-{two.sid}", present=False)


# --- poster ------------------------------------------------------------------------------------


def test_parse_spots() -> None:
    assert parse_spots(" table-1, table-2 bar;table-1 ") == ["table-1", "table-2", "bar"]
    assert parse_spots("") == []
    assert numbered_spots(3) == ["table-1", "table-2", "table-3"]
    with pytest.raises(UltError, match="cannot be a spot name"):
        parse_spots("table 3?")
    with pytest.raises(UltError, match="At most"):
        parse_spots(" ".join(numbered_spots(25)))


def test_posters_print_and_downloads(make_dashboard) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    panel = dash.poster
    assert len(panel.posters.children) == 1 and panel.print.label == "Print poster"
    qr_png = panel.posters.children[0].children[1].children[1]
    assert qr_png.filename == f"{business.sid}-qr.png"
    assert decode_qr(qr_png.make_file()) == [f"http://127.0.0.1:8000/s/{business.sid}"]

    panel.tables.value = 3
    panel._on_number()
    assert len(panel.posters.children) == 3 and panel.print.label == "Print 3 posters"
    assert panel.print.html.count('class="ult-poster"') == 3
    poster = panel.posters.children[2].children[1].children[0]
    assert poster.filename == f"{business.sid}-table-3-poster.png"
    assert decode_qr(poster.make_file()) == [f"http://127.0.0.1:8000/s/{business.sid}?at=table-3"]
    svg = panel.posters.children[2].children[1].children[2].make_file()
    assert svg.startswith(b"<") and b"<svg" in svg
    zipped = panel.tools.children[1]
    assert zipped.filename.endswith(".zip") and zipped.make_file()[:2] == b"PK"

    panel.spots.value = "bad spot!"
    panel._on_make()
    assert "cannot be a spot name" in panel.message.value
    assert len(panel.posters.children) == 3


def test_posters_document_has_a_page_per_poster() -> None:
    url = "http://127.0.0.1:8000/s/fika-1234"
    doc = posters_document(EVIL, [(url, None), (url + "?at=bar", "bar")])
    assert doc.count('class="ult-page"') == 2 and "<img" not in doc


# --- rules -------------------------------------------------------------------------------------


def test_rule_editor_saves(make_dashboard, r: redis.Redis) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    editor = dash.rules
    editor.inputs["points_needed"].value = 5
    editor.inputs["points_per_scan"].value = 2
    editor.inputs["cooldown_min"].value = 0
    editor.inputs["daily_cap"].value = 3
    editor.inputs["expiry_days"].value = 90
    editor.reward.value = "A free <cake>"
    editor.approval.value = "staff"
    editor._on_save()
    assert "Saved" in editor.message.value
    rule = run(r, get_rule(business.sid))
    assert (rule.points_needed, rule.points_per_scan, rule.cooldown_min) == (5, 2, 0)
    assert (rule.daily_cap, rule.expiry_days, rule.approval) == (3, 90, "staff")
    assert rule.reward == "A free <cake>" and "&lt;cake&gt;" in editor.summary.value
    assert any(f["t"] == "rule" for _, f in r.xrange(sponsor_keys(business.sid).events))

    editor.reward.value = "  "
    editor._on_save()
    assert "Reward is required" in editor.message.value


def test_rule_editor_refuses_a_wrong_owner_key(make_dashboard) -> None:
    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    dash.rules.business = Business(business.sid, business.biz, business.place_id, "z" * 43)
    dash.rules._on_save()
    assert "does not match" in dash.rules.message.value


# --- launch ------------------------------------------------------------------------------------


def test_voila_command(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "ULT_VAR_DIR": str(tmp_path),
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "ULT_HOST": "127.0.0.1",
        }
    )
    launch = voila_command(settings, port=9999, base_env={"JUPYTER_PATH": "/elsewhere"})
    jupyter = tmp_path / "jupyter"
    for name, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data")]:
        assert launch.env[name] == str(jupyter / sub)
    assert launch.env["JUPYTER_RUNTIME_DIR"] == str(jupyter / "runtime")
    assert launch.env["IPYTHONDIR"] == str(jupyter / "ipython")
    search = launch.env["JUPYTER_PATH"].split(os.pathsep)
    assert search[0] == str(TEMPLATE_ROOT) and search[-1] == "/elsewhere"
    assert any(p.endswith(os.path.join("share", "jupyter")) for p in search)
    assert launch.env["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert load_settings(launch.env) == settings  # the kernels see the same settings
    argv = " ".join(launch.argv)
    for part in (
        str(NOTEBOOK),
        "--port=9999",
        "--Voila.ip=127.0.0.1",
        "--template=ult",
        "--preheat_kernel=True",
        "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
    ):
        assert part in argv
    assert launch.url == "http://127.0.0.1:9999"
    assert launch.ready_url.endswith("/voila/static/voila.js")


def test_other_tab_registering_shows_the_business(make_dashboard) -> None:
    first = make_dashboard()
    business = register_in(first, "Fika Sisters", "Storgatan 1")
    idle = make_dashboard()  # opened before, nothing registered yet
    assert idle.current is None
    idle.store.value = dict(first.store.value)  # storage event from the other tab
    assert idle.current.sid == business.sid and idle.body.children == (idle.tabs,)


@pytest.fixture(scope="module")
def voila_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_voila(redis_url, tmp_path_factory.mktemp("var"), "http://127.0.0.1:8000") as v:
        yield v.url


@pytest.mark.slow
def test_served_page_is_a_product_and_needs_no_cdn(voila_url: str) -> None:
    with urllib.request.urlopen(voila_url + "/", timeout=60) as resp:
        page = resp.read().decode()
    assert "<title>ULT — Sponsor dashboard</title>" in page
    assert "cdn.jsdelivr.net" not in page and "fontawesome" not in page.lower()
    assert "Traceback" not in page and "from ult.dashboard" not in page  # sources stripped
    assert "application/vnd.jupyter.widget-view+json" in page


@pytest.mark.slow
def test_notebook_runs_headless(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "REDIS_URL": redis_url,
        "ULT_VAR_DIR": str(tmp_path),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells)  # committed stripped
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for out in outputs)


def test_offline_resolver_is_the_default_without_a_key(redis_url: str) -> None:
    ctx = Context(load_settings({"REDIS_URL": redis_url}))
    assert isinstance(ctx.resolver, OfflineResolver)
    assert run(ctx.redis, get_profile("no-such-biz")) is None
    ctx.close()
