"""``ult serve``: one or ``ULT_WORKERS`` service processes on one port.

With several workers uvicorn starts them from the app factory (``create_app`` with no
arguments: each reads the settings from the environment) and they share the listening
socket; the kernel spreads new connections over them. Customers use websocket only, so a
connection stays with the worker that accepted it and no sticky sessions are needed.
Processes share nothing but Redis: rooms through the Socket.IO manager, metrics through
``PROMETHEUS_MULTIPROC_DIR`` (set here, before any worker imports ``prometheus_client``).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from ult.settings import Settings, load_settings
from ult.validation import MAX_PAYLOAD_BYTES

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(settings: Settings, port: int) -> Path:
    """An empty samples directory for this service's processes, in the environment they
    inherit (one per port: two services on one var dir do not mix their counts)."""
    path = settings.var_path / "metrics" / str(port)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ[METRICS_ENV] = str(path)
    return path


def serve(
    settings: Settings | None = None, port: int | None = None, redis_url: str | None = None
) -> None:
    """Run the service under uvicorn until interrupted. No access log: it would keep IPs.

    Connections pass the gate (caps, header deadline) of the worker that accepts them; the
    caps and per-address limits are per process, so N workers allow N times as much.
    """
    import uvicorn

    from ult.service.gate import MAX_HEADER_BYTES

    settings = settings or load_settings()
    port = port or settings.port
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    prepare_metrics_dir(settings, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        "ult.service.app:create_app",
        factory=True,
        workers=max(1, settings.workers),
        host=settings.host,
        port=port,
        access_log=False,
        log_level="warning",
        ws_max_size=MAX_PAYLOAD_BYTES * 2,
        # the gate bounds header bytes whatever parser uvicorn picks; h11 by its own count too
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # the gate (caps, header deadline), built in each worker from the settings
        http="ult.service.workers:GatedHTTPProtocol",
        # forwarded headers are read by the service itself, from trusted proxies only
        proxy_headers=False,
    )


def __getattr__(name: str) -> Any:
    # uvicorn imports the protocol class by name in every worker process
    if name == "GatedHTTPProtocol":
        from ult.service.gate import ConnectionGate

        return ConnectionGate.from_settings(load_settings()).protocol()
    raise AttributeError(name)
