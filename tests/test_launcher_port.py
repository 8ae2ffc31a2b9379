"""`ult up` never serves another instance's data: a taken Redis port stops it with one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from ult.embedded import EmbeddedServer, PortInUse, free_port


def up(port: int, var: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "ULT_REDIS_PORT": str(port),
        "ULT_VAR_DIR": str(var),
        "ULT_PORT": str(free_port()),
        "ULT_DASHBOARD_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "ult", "up", "--no-dashboard"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(done: subprocess.CompletedProcess, port: int, var: Path) -> None:
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert f"port {port} (ULT_REDIS_PORT) is in use" in done.stderr
    assert done.stdout == ""
    assert not (var / "redis").exists()  # no server of its own was started


def test_a_port_of_another_instance(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path / "other") as other:
        client = redis.Redis(port=other.port, decode_responses=True)
        client.set("ult:schema", "2")
        refused(up(other.port, tmp_path / "var"), other.port, tmp_path / "var")
        assert client.get("ult:schema") == "2" and client.dbsize() == 1
        with pytest.raises(PortInUse):
            EmbeddedServer(tmp_path / "mine", port=other.port).start()


def test_a_port_of_something_else(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        refused(up(port, tmp_path / "var"), port, tmp_path / "var")
