"""Settings, declared once: each has its environment variable, default and help text.

Values come from the environment; a ``.env`` file in the working directory (or the nearest
parent that has one) is read first; it never overrides a variable that is already set.

Nothing here points into the installed package: data lives under ``ULT_VAR_DIR``, by default
``./var`` of the directory a command runs in, and the default ``ULT_PUBLIC_URL`` is the address
the scan service really listens on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import find_dotenv, load_dotenv

from ult.errors import UltError

EMBEDDED_REDIS_PORT = 6399  # the embedded server of `ult up`


def _setting(env: str, default: str | int | None, help: str) -> Any:
    # Any, as dataclasses.field is typed: the declared field type is what callers see
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """All of ULT's configuration. Build it with :func:`load_settings`."""

    redis_url: str | None = _setting(
        "REDIS_URL",
        None,
        "Redis >= 7 or Valkey to use. Unset: `ult up` starts the embedded Valkey server "
        "on 127.0.0.1:ULT_REDIS_PORT with its data under ULT_VAR_DIR/redis.",
    )
    public_url: str = _setting(
        "ULT_PUBLIC_URL",
        None,
        "Origin printed into QR codes: what a customer's phone can reach. "
        "Unset: http://ULT_HOST:ULT_PORT (127.0.0.1 when ULT_HOST is a wildcard).",
    )
    google_maps_api_key: str | None = _setting(
        "GOOGLE_MAPS_API_KEY",
        None,
        "Google Geocoding API key. Unset: the offline place resolver (not verified by Google).",
    )
    redis_port: int = _setting(
        "ULT_REDIS_PORT", EMBEDDED_REDIS_PORT, "Port of the embedded Valkey server of `ult up`."
    )
    port: int = _setting("ULT_PORT", 8000, "Port of the scan service.")
    dashboard_port: int = _setting("ULT_DASHBOARD_PORT", 8866, "Port of the Voilà dashboard.")
    host: str = _setting("ULT_HOST", "127.0.0.1", "Address the service and dashboard bind to.")
    var_dir: str = _setting(
        "ULT_VAR_DIR",
        "var",
        "Where data, logs and Jupyter state live; a relative path is taken from the "
        "working directory.",
    )
    event_rate: int = _setting(
        "ULT_EVENT_RATE",
        20,
        "Socket.IO events per second one connection may send (bursts of twice that); 0: no limit.",
    )
    new_cards_per_minute: int = _setting(
        "ULT_NEW_CARDS_PER_MINUTE",
        30,
        "New cards one client address may create per minute (bursts of as many); returning "
        "cards are never limited by it. 30 covers a queue of first-time customers sharing "
        "a café's Wi-Fi; past it a new card needs a solved proof-of-work challenge "
        "(docs/protocol.md); 0: no limit.",
    )
    challenge_key: str | None = _setting(
        "ULT_CHALLENGE_KEY",
        None,
        "Secret that signs the proof-of-work challenges an address past "
        "ULT_NEW_CARDS_PER_MINUTE gets for a new card. Unset: generated once into "
        "ULT_VAR_DIR/challenge.key, shared by the workers of one host; set the same value on "
        "every host of a multi-host service.",
    )
    connections_per_address: int = _setting(
        "ULT_CONNECTIONS_PER_ADDRESS",
        256,
        "Open connections (websockets and HTTP requests, sent or half-sent) one client "
        "address may hold. A phone holds one or two; 256 leaves room for a busy café behind "
        "one Wi-Fi address; 0: no limit.",
    )
    max_connections: int = _setting(
        "ULT_MAX_CONNECTIONS",
        4096,
        "Open connections one service process holds in all (kept below the process's "
        "file-handle limit, `ulimit -n`); 0: only that limit.",
    )
    header_timeout_s: int = _setting(
        "ULT_HEADER_TIMEOUT",
        10,
        "Seconds a client has to send a request's headers before the connection is closed "
        "(slow or half-sent requests); 0: no deadline.",
    )
    dashboard_kernels: int = _setting(
        "ULT_DASHBOARD_KERNELS",
        12,
        "Dashboard pages (one Python kernel of ~75 MB each) open at once in all; 0: no limit.",
    )
    dashboard_kernels_reserved: int = _setting(
        "ULT_DASHBOARD_KERNELS_RESERVED",
        4,
        "Of ULT_DASHBOARD_KERNELS, pages kept for browsers that hold a business's owner key "
        "(anonymous pages get the rest); 0: no reserve.",
    )
    dashboard_kernels_per_address: int = _setting(
        "ULT_DASHBOARD_KERNELS_PER_ADDRESS",
        3,
        "Dashboard pages one client address (an IPv6 /64) may hold open at once; 0: no limit.",
    )
    dashboard_kernel_timeout: int = _setting(
        "ULT_DASHBOARD_KERNEL_TIMEOUT",
        60,
        "Seconds a dashboard kernel lives without its page connected (never opened, or "
        "closed) before it is shut down; 0: never.",
    )
    dashboard_page_gone_s: int = _setting(
        "ULT_DASHBOARD_PAGE_GONE",
        5,
        "Seconds a dashboard kernel outlives the websocket of its last page (a page that "
        "reconnects within them keeps its kernel); 0: only ULT_DASHBOARD_KERNEL_TIMEOUT.",
    )
    trusted_proxies: str = _setting(
        "ULT_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is "
        "believed (e.g. 127.0.0.1 for nginx on the same host). Empty: the peer address is "
        "the client's, forwarded headers are ignored.",
    )
    key_guesses_per_minute: int = _setting(
        "ULT_KEY_GUESSES_PER_MINUTE",
        6,
        "Wrong owner or staff keys one client address (and one business, from addresses that "
        "already failed) may try per minute, in bursts of twice that; 0: no limit.",
    )
    lake_dir: str | None = _setting(
        "ULT_LAKE_DIR",
        None,
        "The Parquet lake `ult archive` appends the streams to. Unset: lake/ in ULT_VAR_DIR.",
    )
    archive_every_minutes: int = _setting(
        "ULT_ARCHIVE_EVERY_MINUTES",
        0,
        "`ult up` runs `ult archive` every N minutes (0: never; archive by hand or cron).",
    )
    trim_days: int = _setting(
        "ULT_TRIM_DAYS",
        0,
        "The scheduled archive then trims archived entries older than N days (0: no trim).",
    )
    compact_every_hours: int = _setting(
        "ULT_COMPACT_EVERY_HOURS",
        24,
        "The scheduled archive also compacts the lake every N hours: the businesses whose "
        "small files piled up (docs/operations.md); 0: never (`ult archive --compact` by "
        "hand).",
    )
    k_anonymity: int = _setting(
        "ULT_K_ANONYMITY",
        5,
        "Smallest group of cards an analytics table may show; smaller groups are suppressed.",
    )
    workers: int = _setting(
        "ULT_WORKERS",
        1,
        "Scan service processes `ult serve` and `ult up` run on ULT_PORT (see docs/scaling.md).",
    )
    replica_acks: str = _setting(
        "ULT_REPLICA_ACKS",
        "auto",
        "Replicas that must have a scan before it is acknowledged (WAIT); auto: 1 where "
        "masters have replicas, else 0.",
    )
    replica_timeout_ms: int = _setting(
        "ULT_REPLICA_TIMEOUT_MS",
        1000,
        "How long a batch of scans waits for its replicas before answering `unavailable`.",
    )

    apple_pass_type_id: str | None = _setting(
        "ULT_APPLE_PASS_TYPE_ID",
        None,
        "Apple Wallet: the Pass Type ID (e.g. pass.com.example.loyalty). Unset, or any "
        "ULT_APPLE_* file unset: no Apple passes (docs/wallet.md).",
    )
    apple_team_id: str | None = _setting(
        "ULT_APPLE_TEAM_ID", None, "Apple Wallet: the Apple Developer team identifier."
    )
    apple_pass_cert: str | None = _setting(
        "ULT_APPLE_PASS_CERT", None, "Apple Wallet: PEM file of the Pass Type ID certificate."
    )
    apple_pass_key: str | None = _setting(
        "ULT_APPLE_PASS_KEY", None, "Apple Wallet: PEM file of that certificate's private key."
    )
    apple_wwdr_cert: str | None = _setting(
        "ULT_APPLE_WWDR_CERT",
        None,
        "Apple Wallet: PEM file of Apple's WWDR intermediate certificate (G4), put into every "
        "pass's signature.",
    )
    apns_url: str = _setting(
        "ULT_APNS_URL",
        "https://api.push.apple.com",
        "Apple Push Notification service that tells phones a pass changed. An http:// URL "
        "means HTTP/2 over cleartext (a local stand-in).",
    )
    google_wallet_issuer_id: str | None = _setting(
        "ULT_GOOGLE_WALLET_ISSUER_ID",
        None,
        "Google Wallet: the issuer id of the Google Pay & Wallet Console. Unset, or "
        "ULT_GOOGLE_WALLET_KEY unset: no Google passes (docs/wallet.md).",
    )
    google_wallet_key: str | None = _setting(
        "ULT_GOOGLE_WALLET_KEY",
        None,
        "Google Wallet: the service account's JSON key file (its token_uri is used as given).",
    )
    google_wallet_api: str = _setting(
        "ULT_GOOGLE_WALLET_API",
        "https://walletobjects.googleapis.com",
        "Google Wallet REST API the loyalty classes and objects are written to.",
    )

    def __post_init__(self) -> None:
        # Resolved once, here: children (the service, Voilà kernels running in another
        # directory) get absolute values and agree with the process that started them.
        object.__setattr__(self, "var_dir", os.path.abspath(self.var_dir))
        if not self.public_url:
            object.__setattr__(self, "public_url", served_url(self.host, self.port))

    @property
    def apple_wallet_on(self) -> bool:
        """Every ULT_APPLE_* file and name is set: Apple Wallet passes are offered."""
        apple = (self.apple_pass_type_id, self.apple_team_id, self.apple_pass_cert)
        return all(apple) and bool(self.apple_pass_key and self.apple_wwdr_cert)

    @property
    def google_wallet_on(self) -> bool:
        """The Google Wallet issuer and key are set: Google Wallet passes are offered."""
        return bool(self.google_wallet_issuer_id and self.google_wallet_key)

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL to connect to: REDIS_URL, or the embedded server's."""
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def var_path(self) -> Path:
        """``ULT_VAR_DIR`` as an absolute path."""
        return Path(self.var_dir)

    @property
    def lake_path(self) -> Path:
        """The Parquet lake: ULT_LAKE_DIR, else lake/ in the var directory."""
        return Path(self.lake_dir) if self.lake_dir else self.var_path / "lake"


_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


def served_url(host: str, port: int) -> str:
    """The origin of a server on ``host:port``; a wildcard host is reached on 127.0.0.1."""
    host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``.env`` then ``os.environ``)."""
    if env is None:
        load_dotenv(find_dotenv(usecwd=True), override=False)
        env = dict(os.environ)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(f.metadata["env"])
        if raw is None or raw == "":
            continue
        values[f.name] = _int(f.metadata["env"], raw) if f.type == "int" else raw
    return Settings(**values)


def _int(env: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise UltError("bad_setting", f"{env} must be a whole number, not {raw[:40]!r}.") from None


def describe() -> list[tuple[str, object, str]]:
    """(variable, default, help) for every setting — used by the README and `ult --help`."""
    return [(f.metadata["env"], f.default, f.metadata["help"]) for f in fields(Settings)]


def shown_default(default: object) -> str:
    """A default as the docs show it: ``unset``, ``empty`` or the value."""
    if default is None:
        return "unset"
    return "empty" if default == "" else str(default)


def markdown_table() -> str:
    """The settings as the README's Markdown table (``ult settings --markdown``); a test holds
    the README's copy, between its ``settings`` markers, to this."""
    rows = [
        f"| `{env}` | {_code(shown_default(default))} | {_cell(help)} |"
        for env, default, help in describe()
    ]
    return "\n".join(["| variable | default | what |", "|---|---|---|", *rows]) + "\n"


def _code(text: str) -> str:
    return text if text in ("unset", "empty") else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
