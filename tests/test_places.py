"""ult.places: the real googlemaps client against a local Geocoding stub, and the offline resolver."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ult.errors import UltError
from ult.places import (
    GoogleResolver,
    OfflineResolver,
    Place,
    check_country,
    countries,
    resolver_from_settings,
)

KEY = "AIzaSyTEST-not-a-real-key-0123456789"
GEOCODE_PATH = "/maps/api/geocode/json"

# What the stub answers: (HTTP status, JSON body); the query string is passed in.
Answer = Callable[[dict[str, str]], tuple[int, dict[str, Any]]]


def found(place_id: str = "ChIJ-fika-sisters", partial: bool = False) -> dict[str, Any]:
    """A Geocoding OK answer with one result."""
    result: dict[str, Any] = {
        "formatted_address": "Storgatan 1, 111 22 Stockholm, Sweden",
        "place_id": place_id,
        "geometry": {"location": {"lat": 59.33, "lng": 18.07}},
        "types": ["cafe", "establishment", "point_of_interest"],
    }
    if partial:
        result["partial_match"] = True
    return {"status": "OK", "results": [result]}


@dataclass
class GeocodeStub:
    """A local imitation of the Geocoding JSON API, run in a thread."""

    answer: Answer = field(default=lambda query: (200, found()))
    delay: float = 0.0
    requests: list[dict[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append({"path": parts.path, **query})
        if self.delay:
            self.release.wait(self.delay)
        status, body = (404, {}) if parts.path != GEOCODE_PATH else self.answer(query)
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=UTF-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timeout test)
            pass


@pytest.fixture
def stub() -> Iterator[GeocodeStub]:
    """A running Geocoding stub on 127.0.0.1 (random port), shut down afterwards."""
    state = GeocodeStub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def google(stub: GeocodeStub, **kwargs: float) -> GoogleResolver:
    kwargs.setdefault("timeout", 2)
    kwargs.setdefault("retry_timeout", 2)
    return GoogleResolver(KEY, base_url=stub.url, **kwargs)


def status_answer(status: str, message: str | None = None) -> Answer:
    body: dict[str, Any] = {"status": status, "results": []}
    if message:
        body["error_message"] = message
    return lambda query: (200, body)


def assert_plain(err: UltError, code: str) -> None:
    """The error has the code, and a message for a person: words, no jargon, no key."""
    assert err.code == code
    msg = err.message
    assert 20 < len(msg) < 300 and msg[0].isupper() and msg.endswith(".")
    assert KEY not in msg
    for jargon in ("Traceback", "Error", "googlemaps", "HTTPConnection", "http://"):
        assert jargon not in msg, msg
    statuses = set(re.findall(r"\b[A-Z]+(?:_[A-Z]+)+\b", msg)) - {"GOOGLE_MAPS_API_KEY"}
    assert not statuses, msg  # REQUEST_DENIED and friends mean nothing to a café owner


# --- Google, against the stub -----------------------------------------------------------------


def test_found_returns_google_place_and_sends_country_and_key(stub: GeocodeStub) -> None:
    place = google(stub).resolve("Fika Sisters", "  Storgatan   1,  Stockholm ", "se")
    assert place == Place(
        formatted_address="Storgatan 1, 111 22 Stockholm, Sweden",
        place_id="ChIJ-fika-sisters",
        verified=True,
        lat=59.33,
        lng=18.07,
    )
    [request] = stub.requests
    assert request["path"] == GEOCODE_PATH
    assert request["key"] == KEY
    assert request["components"] == "country:SE"
    assert request["address"] == "Fika Sisters, Storgatan 1, Stockholm"


def test_falls_back_to_the_address_alone(stub: GeocodeStub) -> None:
    def answer(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if query["address"].startswith("Fika Sisters"):
            return 200, found("ChIJ-street-guess", partial=True)
        return 200, found("ChIJ-street-address")

    stub.answer = answer
    place = google(stub).resolve("Fika Sisters", "Storgatan 1, Stockholm, Sweden", "SE")
    assert place.place_id == "ChIJ-street-address" and place.verified
    assert [r["address"] for r in stub.requests] == [
        "Fika Sisters, Storgatan 1, Stockholm",
        "Storgatan 1, Stockholm",
    ]
    assert all(r["components"] == "country:SE" for r in stub.requests)


def test_partial_match_is_kept_and_flagged(stub: GeocodeStub) -> None:
    stub.answer = lambda query: (200, found("ChIJ-partial", partial=True))
    place = google(stub).resolve("Fika Sisters", "Storgatan 1", "SE")
    assert place.place_id == "ChIJ-partial" and place.partial_match and place.verified


def test_zero_results(stub: GeocodeStub) -> None:
    stub.answer = status_answer("ZERO_RESULTS")
    with pytest.raises(UltError) as info:
        google(stub).resolve("Fika Sisters", "Nowhere street 99", "SE")
    assert_plain(info.value, "address_not_found")
    assert info.value.message == (
        "Google could not find that address in Sweden. Check the street and number."
    )
    assert len(stub.requests) == 2  # with the name, then the address alone


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("REQUEST_DENIED", "google_denied"),
        ("OVER_QUERY_LIMIT", "google_quota"),
        ("OVER_DAILY_LIMIT", "google_quota"),
        ("INVALID_REQUEST", "google_error"),
        ("UNKNOWN_ERROR", "google_unavailable"),
    ],
)
def test_api_statuses(stub: GeocodeStub, status: str, code: str) -> None:
    stub.answer = status_answer(status, "The provided API key is invalid.")
    with pytest.raises(UltError) as info:
        google(stub).resolve("Fika Sisters", "Storgatan 1", "SE")
    assert_plain(info.value, code)
    assert "API key is invalid" not in info.value.message  # Google's text goes to the log
    assert len(stub.requests) == 1  # no retry, no fallback on an error


def test_server_error_is_retried_then_reported(stub: GeocodeStub) -> None:
    stub.answer = lambda query: (500, {})
    started = time.monotonic()
    with pytest.raises(UltError) as info:
        google(stub, retry_timeout=2).resolve("Fika Sisters", "Storgatan 1", "SE")
    elapsed = time.monotonic() - started
    assert_plain(info.value, "google_unavailable")
    assert "500" in info.value.message
    assert len(stub.requests) >= 2 and elapsed < 6


def test_other_http_error(stub: GeocodeStub) -> None:
    stub.answer = lambda query: (403, {})
    with pytest.raises(UltError) as info:
        google(stub).resolve("Fika Sisters", "Storgatan 1", "SE")
    assert_plain(info.value, "google_unavailable")


def test_slow_google_times_out(stub: GeocodeStub) -> None:
    stub.delay = 5
    started = time.monotonic()
    with pytest.raises(UltError) as info:
        google(stub, timeout=0.5).resolve("Fika Sisters", "Storgatan 1", "SE")
    assert_plain(info.value, "google_timeout")
    assert time.monotonic() - started < 3


def test_not_json(stub: GeocodeStub) -> None:
    stub.answer = lambda query: (200, ["not", "an", "object"])  # type: ignore[return-value]
    with pytest.raises(UltError) as info:
        google(stub).resolve("Fika Sisters", "Storgatan 1", "SE")
    assert_plain(info.value, "google_error")


def test_no_network(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = GoogleResolver(KEY, base_url=f"http://127.0.0.1:{port}", retry_timeout=2)
    with pytest.raises(UltError) as info:
        resolver.resolve("Fika Sisters", "Storgatan 1", "SE")
    assert_plain(info.value, "google_unreachable")
    assert "Google geocoding failed" in caplog.text  # the details are logged ...
    assert KEY not in caplog.text  # ... without the key that the request URL carried


def test_key_that_is_not_a_google_key() -> None:
    with pytest.raises(UltError) as info:
        GoogleResolver("not-a-key")
    assert_plain(info.value, "google_key_invalid")


@pytest.mark.parametrize(
    ("name", "address", "country", "code"),
    [
        ("", "Storgatan 1", "SE", "bad_request"),
        ("Fika", "   ", "SE", "bad_request"),
        ("Fika", ", ,", "SE", "bad_request"),
        ("Fika", "Storgatan 1", "XX", "bad_country"),
        ("Fika", "Storgatan 1", "", "bad_country"),
    ],
)
def test_bad_input_never_reaches_google(
    stub: GeocodeStub, name: str, address: str, country: str, code: str
) -> None:
    with pytest.raises(UltError) as info:
        google(stub).resolve(name, address, country)
    assert info.value.code == code
    assert stub.requests == []


# --- offline ----------------------------------------------------------------------------------


def test_offline_place() -> None:
    place = OfflineResolver().resolve("Fika Sisters", " storgatan 1 ,  Stockholm ", "se")
    assert place.formatted_address == "storgatan 1, Stockholm, Sweden"
    assert re.fullmatch(r"local:[0-9a-f]{16}", place.place_id)
    assert place.verified is False and place.lat is None


def test_offline_id_is_stable_modulo_case_and_whitespace() -> None:
    resolve = OfflineResolver().resolve
    first = resolve("Fika Sisters", "Storgatan 1, Stockholm", "SE")
    assert resolve("  fika   SISTERS ", "STORGATAN 1 ,Stockholm", "se").place_id == first.place_id
    assert resolve("Fika Sisters", "Storgatan 1, Stockholm, Sweden", "SE") == first


def test_offline_id_differs_for_name_address_or_country() -> None:
    resolve = OfflineResolver().resolve
    ids = {
        resolve("Fika Sisters", "Storgatan 1", "SE").place_id,
        resolve("Bar Brothers", "Storgatan 1", "SE").place_id,
        resolve("Fika Sisters", "Storgatan 2", "SE").place_id,
        resolve("Fika Sisters", "Storgatan 1", "NO").place_id,
    }
    assert len(ids) == 4


def test_offline_bad_country() -> None:
    with pytest.raises(UltError) as info:
        OfflineResolver().resolve("Fika", "Storgatan 1", "Sweden")
    assert_plain(info.value, "bad_country")


def test_countries_for_a_dropdown() -> None:
    pairs = countries()
    assert len(pairs) > 240
    assert ("Sweden", "SE") in pairs
    names = [name for name, _ in pairs]
    assert names.index("Åland Islands") < names.index("Albania")  # accent-blind sort
    assert check_country(" gb ") == ("GB", "United Kingdom")


def test_resolver_from_settings() -> None:
    assert isinstance(
        resolver_from_settings(SimpleNamespace(google_maps_api_key=None)), OfflineResolver
    )
    chosen = resolver_from_settings(SimpleNamespace(google_maps_api_key=KEY))
    assert isinstance(chosen, GoogleResolver)
