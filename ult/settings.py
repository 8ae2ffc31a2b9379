"""Settings, declared once: each has its environment variable, default and help text.

Values come from the environment; a ``.env`` file in the working directory is read first
(it never overrides a variable that is already set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_REDIS_PORT = 6399  # the embedded server of `ult up`


def _setting(env: str, default: str | int | None, help: str) -> object:
    return field(default=default, metadata={"env": env, "help": help})


@dataclass(frozen=True)
class Settings:
    """All of ULT's configuration. Build it with :func:`load_settings`."""

    redis_url: str | None = _setting(
        "REDIS_URL",
        None,
        "Redis >= 7 or Valkey to use. Unset: `ult up` starts the embedded Valkey server "
        "on 127.0.0.1:ULT_REDIS_PORT with its data under var/redis.",
    )
    public_url: str = _setting(
        "ULT_PUBLIC_URL",
        "http://127.0.0.1:8000",
        "Origin printed into QR codes: what a customer's phone can reach.",
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
        "ULT_VAR_DIR", str(PROJECT_ROOT / "var"), "Where data, logs and Jupyter state live."
    )
    event_rate: int = _setting(
        "ULT_EVENT_RATE",
        20,
        "Socket.IO events per second one connection may send (bursts of twice that); 0: no limit.",
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

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL to connect to: REDIS_URL, or the embedded server's."""
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: ``.env`` then ``os.environ``)."""
    if env is None:
        load_dotenv(override=False)
        env = dict(os.environ)
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = env.get(f.metadata["env"])
        if raw is None or raw == "":
            continue
        values[f.name] = int(raw) if f.type == "int" else raw
    return Settings(**values)


def describe() -> list[tuple[str, object, str]]:
    """(variable, default, help) for every setting — used by the README and `ult --help`."""
    return [(f.metadata["env"], f.default, f.metadata["help"]) for f in fields(Settings)]
