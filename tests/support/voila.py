"""A real Voilà for the dashboard tests, and what they check it with."""

from __future__ import annotations

import io
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import redis
import zxingcpp
from PIL import Image

from ult.dashboard.launch import VoilaLaunch, voila_command
from ult.embedded import free_port
from ult.launcher import wait_http
from ult.settings import load_settings

from .wait import wait_until


def child_env() -> dict[str, str]:
    """This process's environment without ULT/Redis/Google/Jupyter settings."""
    drop = ("ULT_", "REDIS_URL", "GOOGLE_MAPS_API_KEY", "JUPYTER_", "IPYTHONDIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@contextmanager
def running_voila(redis_url: str, var_dir: Path, public_url: str) -> Iterator[VoilaLaunch]:
    """A real Voilà (launched exactly as `ult dashboard` does) on a free port; every process
    it started (kernels included) is gone afterwards.

    The page caps are off: these tests open many pages from 127.0.0.1 and close them with
    their browser context, which (unlike closing a tab) leaves each kernel for the timeout.
    tests/test_dashboard_limits.py tests the caps."""
    no_caps = {"ULT_DASHBOARD_KERNELS_PER_ADDRESS": "0", "ULT_DASHBOARD_KERNELS": "0"}
    with voila_process(redis_url, var_dir, public_url, **no_caps) as (launch, _proc):
        yield launch


@contextmanager
def voila_process(
    redis_url: str, var_dir: Path, public_url: str, **extra: str
) -> Iterator[tuple[VoilaLaunch, subprocess.Popen]]:
    """:func:`running_voila` with more settings (environment names) and the Voilà process."""
    port = free_port()
    env = {"REDIS_URL": redis_url, "ULT_VAR_DIR": str(var_dir), "ULT_PUBLIC_URL": public_url}
    settings = load_settings({**env, **extra})
    launch = voila_command(settings, port=port, base_env=child_env())
    launch.prepare()
    log_path = var_dir / "voila.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            launch.argv,
            env=launch.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    children: dict[int, psutil.Process] = {}
    try:
        ready = wait_http(launch.ready_url, timeout=60, proc=proc)
        assert ready, f"Voilà did not start:\n{log_path.read_text()[-3000:]}"
        yield launch, proc
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            children[child.pid] = child
        _stop_all(proc, list(children.values()))


def _stop_all(proc: subprocess.Popen, children: list[psutil.Process]) -> None:
    proc.send_signal(signal.SIGTERM)  # Voilà shuts its kernels down on SIGTERM
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()
    psutil.wait_procs(alive, timeout=5)


def wait_for_client(r: redis.Redis, name: str, present: bool, timeout: float = 5) -> bool:
    """Wait until a Redis client named ``name`` is connected (or gone); fails after
    ``timeout``."""

    def settled() -> bool:
        return (name in {c.get("name") for c in r.client_list()}) == present

    state = "connected" if present else "gone"
    return wait_until(settled, timeout, message=f"Redis client {name} not {state}")


def decode_qr(png: bytes) -> list[str]:
    """The texts of the QR codes in a PNG."""
    image = Image.open(io.BytesIO(png))
    return [r.text for r in zxingcpp.read_barcodes(image)]
