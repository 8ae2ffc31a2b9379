"""The `ult` command as a user types it, against the embedded server."""

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import zxingcpp
from PIL import Image
from support.service import service_env

from ult import run
from ult.cards import read_card
from ult.embedded import free_port
from ult.scans import scan


def ult(env, *args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "ult", *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_register_qr_and_rule(redis_url, r, tmp_path):
    env = service_env(redis_url, tmp_path, ULT_PUBLIC_URL="https://loyal.example")
    out = json.loads(
        ult(
            env, "register", "--name", "Fika Sisters", "--address", "Storgatan 1", "--country", "SE"
        ).stdout
    )
    sid, owner_key = out["sid"], out["owner_key"]
    assert sid.startswith("fika-sisters-") and out["verified"] is False
    assert out["scan_url"] == f"https://loyal.example/s/{sid}"

    again = ult(
        env,
        "register",
        "--name",
        "Fika Sisters",
        "--address",
        "Storgatan 1",
        "--country",
        "SE",
        check=False,
    )
    assert again.returncode == 2 and "already registered" in again.stderr

    png = tmp_path / "code.png"
    qr = json.loads(ult(env, "qr", sid, "-o", str(png), "--at", "table-3").stdout)
    assert qr["url"] == f"https://loyal.example/s/{sid}?at=table-3"
    (decoded,) = zxingcpp.read_barcodes(Image.open(png))
    assert decoded.text == qr["url"]
    missing = ult(env, "qr", "no-such-cafe", check=False)
    assert missing.returncode == 2 and "No business" in missing.stderr

    rule = json.loads(
        ult(
            env,
            "rule",
            sid,
            "--owner-key",
            owner_key,
            "--points-per-scan",
            "2",
            "--cooldown",
            "0",
            "--reward",
            "Free bun",
            "--approval",
            "staff",
        ).stdout
    )
    assert (
        rule["points_per_scan"] == 2 and rule["cooldown_min"] == 0 and rule["approval"] == "staff"
    )
    key = "c" * 43
    run(r, scan(sid, key))
    assert run(r, scan(sid, key)).points == 4  # the new rule: 2 points, no cooldown
    wrong = ult(env, "rule", sid, "--owner-key", "x" * 43, "--points-per-scan", "9", check=False)
    assert wrong.returncode == 2 and "owner key" in wrong.stderr
    assert run(r, read_card(sid, key)).points == 4


def test_qr_codes_follow_the_port_served_unless_a_public_url_is_set(
    make_sponsor, redis_url, tmp_path
):
    sid = make_sponsor()["sid"]
    port = free_port()
    env = service_env(redis_url, tmp_path, ULT_PORT=str(port))
    png = tmp_path / "code.png"
    printed = json.loads(ult(env, "qr", sid, "-o", str(png)).stdout)["url"]
    (decoded,) = zxingcpp.read_barcodes(Image.open(png))
    assert decoded.text == printed == f"http://127.0.0.1:{port}/s/{sid}"

    env.update(ULT_HOST="0.0.0.0")  # bound to every address: the code still has to work here
    assert json.loads(ult(env, "qr", sid, "-o", str(png)).stdout)["url"].startswith(
        f"http://127.0.0.1:{port}/"
    )
    env.update(ULT_PUBLIC_URL="https://loyal.example")  # an explicit value wins
    assert json.loads(ult(env, "qr", sid, "-o", str(png)).stdout)["url"] == (
        f"https://loyal.example/s/{sid}"
    )


def test_version():
    from importlib.metadata import version

    import ult as package

    out = ult(dict(os.environ), "--version").stdout
    assert out == f"ult {package.__version__}\n" and package.__version__ == version("ult")


def test_unreachable_redis_is_a_clear_message(tmp_path):
    env = service_env(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    proc = ult(env, "register", "--name", "X", "--address", "Y", "--country", "SE", check=False)
    assert proc.returncode == 3 and "cannot reach Redis" in proc.stderr


@pytest.mark.slow
def test_up_starts_everything_prints_the_urls_and_stops_cleanly(tmp_path):
    """What `make run` does: embedded Valkey, scan service and dashboard; Ctrl-C stops all.

    Run as a user of the installed package would, from an empty directory with no ULT_VAR_DIR
    and no ULT_PUBLIC_URL: data goes to ./var there, QR codes follow the port really served.
    """
    env = service_env("", tmp_path / "unused")
    for name in ("REDIS_URL", "ULT_VAR_DIR"):
        env.pop(name)
    redis_port, port, dash_port = free_port(), free_port(), free_port()
    env.update(
        ULT_REDIS_PORT=str(redis_port), ULT_PORT=str(port), ULT_DASHBOARD_PORT=str(dash_port)
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ult", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        assert lines[0] == f"Data in {tmp_path / 'var'}\n"
        assert f"redis://127.0.0.1:{redis_port}/0" in text
        assert f"QR codes point at        http://127.0.0.1:{port}/s/<sid>" in text
        assert f"Scan service             http://127.0.0.1:{port}" in text
        assert text.count(f"http://127.0.0.1:{dash_port}") == 1  # printed once, when ready
        assert "ult demo" in text  # the empty-server hint
        for url in (
            f"http://127.0.0.1:{port}/healthz",
            f"http://127.0.0.1:{dash_port}/voila/static/voila.js",
        ):
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
        assert (tmp_path / "var" / "redis" / "appendonlydir").is_dir()
        assert (tmp_path / "var" / "jupyter").is_dir()  # Jupyter state under var/, not ~
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0
    left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a child of `ult up` is still running"
    for url in (f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{dash_port}/"):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)


def test_key_options_take_values_that_start_with_a_dash(redis_url, r, tmp_path, make_sponsor):
    """Keys are base64url: about one in 64 starts with '-', and argparse took it for an option."""
    from ult.identity import hash_owner_key, new_secret
    from ult.keys import sponsor_keys

    s = make_sponsor()
    key = next(k for k in iter(new_secret, None) if k.startswith("-"))
    r.hset(sponsor_keys(s["sid"]).profile, "owner_hash", hash_owner_key(key))
    env = service_env(redis_url, tmp_path)
    out = ult(env, "rule", s["sid"], "--owner-key", key, "--points-needed", "7")
    assert json.loads(out.stdout)["points_needed"] == 7
    out = ult(env, "rule", s["sid"], f"--owner-key={key}", "--reward", "A bun")
    assert json.loads(out.stdout)["reward"] == "A bun"
    wrong = ult(env, "rule", s["sid"], "--owner-key", "-" + key[1:][::-1], check=False)
    assert wrong.returncode == 2 and "owner key" in wrong.stderr
