"""The analyst notebooks: stripped in git, and each runs headless (nbclient) against demo
data on the embedded server, with no errors and with its figures."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
import redis
from nbclient import NotebookClient

from ult import demo
from ult.analytics import lake

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("0*.ipynb"))
NAMES = ["01-explore-streams", "02-retention-cohorts", "03-rewards-and-fraud", "04-lake-duckdb"]
FULL_CID = re.compile(r"\b[0-9a-f]{32}\b")
END_MS = 1_790_000_000_000


def test_the_notebooks_exist() -> None:
    assert [p.stem for p in NOTEBOOKS] == NAMES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_thin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert all(len(c.source.splitlines()) <= 6 for c in code), "cells stay short"
    assert all("def " not in c.source for c in code), "functions belong in ult.analytics"
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(markdown) >= 4


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> dict[str, str]:
    """Jupyter and IPython state under tmp_path (never ~); the kernel gets REDIS_URL."""
    dirs = {
        "JUPYTER_CONFIG_DIR": tmp_path / "jupyter-config",
        "JUPYTER_DATA_DIR": tmp_path / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": tmp_path / "jupyter-runtime",
        "IPYTHONDIR": tmp_path / "ipython",
        "MPLCONFIGDIR": tmp_path / "matplotlib",
    }
    for name, path in dirs.items():
        path.mkdir()
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
    env.update({k: str(v) for k, v in dirs.items()}, REDIS_URL=redis_url, ULT_VAR_DIR=str(tmp_path))
    env["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
    return env


@pytest.fixture
def demo_data(r: redis.Redis, tmp_path: Path) -> demo.DemoReport:
    """Demo history, archived to the lake of the kernel's ULT_VAR_DIR and trimmed to two
    weeks: the notebooks read lake + Redis as one."""
    config = demo.DemoConfig(sponsors=5, days=42, seed=3, end_ms=END_MS)
    report = demo.load(r, config, progress=False)
    assert lake.archive(r, tmp_path / "lake", trim_days=14, now_ms=END_MS).trimmed > 0
    return report


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_demo_data(
    path: Path, demo_data: demo.DemoReport, jupyter_env: dict[str, str]
) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=jupyter_env)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the notebook draws figures"
    shown = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert not FULL_CID.search(shown), "a full card id reached an output"
