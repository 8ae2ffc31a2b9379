"""`ult serve` child processes for the tests, isolated from ~ and .env."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ult.embedded import free_port
from ult.launcher import stop_process, wait_http

# every test client comes from 127.0.0.1 (and the failover load starts a card per scan);
# tests/test_hostile.py runs its own service with the limits on
PER_ADDRESS_LIMITS_OFF = {
    "ULT_NEW_CARDS_PER_MINUTE": "0",
    "ULT_CONNECTIONS_PER_ADDRESS": "0",
    "ULT_KEY_GUESSES_PER_MINUTE": "0",
}


def service_env(redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process of the project, isolated from ~ and .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
    env.update(REDIS_URL=redis_url, ULT_VAR_DIR=str(var_dir), **extra)
    return env


@contextmanager
def running_service(url: str, var_dir: Path, log: Path | None = None, **env: str) -> Iterator[str]:
    """A real `ult serve` on a free port, pointed at ``url``, per-address limits off;
    yields its base URL. ``log``: a file that gets its output."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = log.open("ab") if log else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "ult", "serve", "--port", str(port)],
        env=service_env(url, var_dir, **(PER_ADDRESS_LIMITS_OFF | {"ULT_PUBLIC_URL": base} | env)),
        stdout=out,
        stderr=out,
    )
    try:
        assert wait_http(f"{base}/healthz", timeout=30, proc=proc), "scan service did not start"
        yield base
    finally:
        stop_process(proc)
        if out:
            out.close()
