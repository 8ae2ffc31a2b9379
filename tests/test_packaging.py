"""ULT as an installed package: settings that follow the directory and port it runs on, the
dashboard notebook as package data, and a wheel and sdist that carry every file it reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from importlib import resources
from pathlib import Path

import pytest

import ult
from ult.dashboard.launch import NOTEBOOK
from ult.embedded import free_port
from ult.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(ult.__file__).resolve().parent


def package_files() -> list[str]:
    """Every file of the ``ult`` package in the source tree (those git does not ignore), as
    ``ult/...`` paths."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "ult"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(name for name in listed.stdout.splitlines() if (REPO / name).is_file())


# --- settings ----------------------------------------------------------------------------------


def test_var_dir_defaults_to_var_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = Path.cwd()
    assert load_settings({}).var_path == here / "var"
    assert load_settings({"ULT_VAR_DIR": "data/ult"}).var_dir == str(here / "data" / "ult")
    elsewhere = tmp_path / "elsewhere"
    assert load_settings({"ULT_VAR_DIR": str(elsewhere)}).var_path == elsewhere


def test_public_url_follows_host_and_port_and_an_explicit_value_wins():
    port = free_port()
    assert load_settings({"ULT_PORT": str(port)}).public_url == f"http://127.0.0.1:{port}"
    on = {"ULT_PORT": "8123"}
    assert load_settings(on | {"ULT_HOST": "10.1.2.3"}).public_url == "http://10.1.2.3:8123"
    assert load_settings(on | {"ULT_HOST": "0.0.0.0"}).public_url == "http://127.0.0.1:8123"
    assert load_settings(on | {"ULT_HOST": "::1"}).public_url == "http://[::1]:8123"
    explicit = on | {"ULT_PUBLIC_URL": "https://loyal.example"}
    assert load_settings(explicit).public_url == "https://loyal.example"


def test_a_bad_number_is_a_clear_error(tmp_path):
    from ult.errors import UltError

    with pytest.raises(UltError, match="ULT_PORT must be a whole number"):
        load_settings({"ULT_PORT": "80; rm -rf /"})
    proc = subprocess.run(
        [sys.executable, "-m", "ult", "up"],
        env={**os.environ, "ULT_PORT": "eighty"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        proc.returncode == 2
        and proc.stderr == "ult: ULT_PORT must be a whole number, not 'eighty'.\n"
    )
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_dotenv_of_the_working_directory_is_read(tmp_path, monkeypatch):
    """Installed, the package lives far from the user's directory: `.env` is found from cwd."""
    for name in ("ULT_K_ANONYMITY", "ULT_PORT", "ULT_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)  # also undoes what load_dotenv sets
    (tmp_path / ".env").write_text("ULT_K_ANONYMITY=7\nULT_PORT=8124\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    settings = load_settings()
    assert settings.k_anonymity == 7 and settings.public_url == "http://127.0.0.1:8124"


# --- the dashboard notebook --------------------------------------------------------------------


def test_the_notebook_is_package_data_and_the_top_level_one_is_the_same_file():
    shipped = resources.files("ult.dashboard").joinpath("sponsor.ipynb")
    assert Path(str(shipped)) == NOTEBOOK and NOTEBOOK.is_file()
    top = REPO / "dashboards" / "sponsor.ipynb"
    assert top.read_bytes() == shipped.read_bytes()
    assert top.resolve() == NOTEBOOK.resolve()  # one file: the top-level path links to it
    assert "from ult.dashboard import dashboard" in NOTEBOOK.read_text()


# --- wheel and sdist ---------------------------------------------------------------------------


@pytest.mark.slow
def test_wheel_and_sdist_carry_every_file_and_complete_metadata(tmp_path):
    """Build from a copy of the checkout (as a fresh clone would): sdist, then the wheel from
    the sdist; both must hold every file of the package, the notebook with its real content."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    expected = package_files()
    assert "ult/dashboard/sponsor.ipynb" in expected and "ult/lua/scan.lua" in expected

    (wheel_path,) = dist.glob("ult-*.whl")
    with zipfile.ZipFile(wheel_path) as wheel:
        names = set(wheel.namelist())
        assert set(expected) <= names, sorted(set(expected) - names)
        assert wheel.read("ult/dashboard/sponsor.ipynb") == NOTEBOOK.read_bytes()
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(wheel.read(meta_name).decode())
        (entry_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "ult = ult.cli:main" in wheel.read(entry_name).decode()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["Version"] == ult.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    assert {u.split(",")[0] for u in meta.get_all("Project-URL")} >= {"Homepage", "Source"}
    assert "Programming Language :: Python :: 3.11" in meta.get_all("Classifier")

    (sdist_path,) = dist.glob("ult-*.tar.gz")
    with tarfile.open(sdist_path) as sdist:
        root = f"ult-{ult.__version__}/"
        members = {m.name.removeprefix(root): m for m in sdist.getmembers()}
        assert set(expected) <= set(members), sorted(set(expected) - set(members))
        assert {"LICENSE", "README.md", "pyproject.toml"} <= set(members)
        notebook = members["ult/dashboard/sponsor.ipynb"]
        assert notebook.isfile()
        assert sdist.extractfile(notebook).read() == NOTEBOOK.read_bytes()
