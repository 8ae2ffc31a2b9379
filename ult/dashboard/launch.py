"""Running the dashboard: Voilà serving the notebook shipped in this package.

``ult/dashboard/sponsor.ipynb`` is package data (found with ``importlib.resources``), so an
installed wheel serves it from any directory; ``dashboards/sponsor.ipynb`` at the top of the
repository is a symlink to it — the one file users open in Jupyter.

:func:`voila_command` is the single description of how Voilà is started — `ult dashboard`,
`ult up`, the tests and the benchmark all use it:

- Jupyter keeps its state under ``<ULT_VAR_DIR>/jupyter`` (config, data, runtime, IPython),
  never in ``~``; the venv's ``share/jupyter`` stays reachable through ``JUPYTER_PATH``, after
  ULT's own template directory.
- The ``ult`` template is the lab template without CDN stylesheets: the page renders offline.
- A preheated kernel has already run the notebook when a sponsor opens the page.
- Voilà and its kernels talk over loopback TCP encrypted with CurveZMQ keys that Voilà makes
  for each kernel (``transport_encryption``): another local user can neither read nor inject
  messages. (IPC sockets would put them under ``var/``, but a socket path must stay under
  108 bytes, which a deep ``ULT_VAR_DIR`` exceeds.)
- Voilà runs as :mod:`ult.dashboard.voila_app`: pages (one kernel each) are capped per client
  address and in all (``ULT_DASHBOARD_KERNELS_PER_ADDRESS``, ``ULT_DASHBOARD_KERNELS``), with
  ``ULT_DASHBOARD_KERNELS_RESERVED`` of them for browsers that hold a business; the kernels
  check owner keys through the server's guessing guard (:mod:`ult.dashboard.keyguard`).
- Kernels of closed pages are shut down by Voilà on ``beforeunload``; a kernel whose page never
  connected or went away is shut down ``ULT_DASHBOARD_KERNEL_TIMEOUT`` seconds later, checked
  every quarter of that (:class:`ult.dashboard.kernels.PageKernelManager`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

from ult.addresses import TrustedProxies
from ult.dashboard.keyguard import GUARD_PATH, GUARD_URL_ENV
from ult.errors import UltError
from ult.settings import Settings, served_url

NOTEBOOK = Path(str(resources.files("ult.dashboard").joinpath("sponsor.ipynb")))
TEMPLATE_ROOT = Path(__file__).resolve().with_name("jupyter")
TEMPLATE = "ult"
# JupyterLab's notebook plugin, and code highlighting for a page that shows no code
EXTENSION_DENYLIST = ["@jupyter-notebook/lab-extension", "jupyterlab_pygments"]
POOL_SIZE = 1
KERNEL_MANAGER = "ult.dashboard.kernels.PageKernelManager"
_JUPYTER_DIRS = {
    "JUPYTER_CONFIG_DIR": "config",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_RUNTIME_DIR": "runtime",
    "IPYTHONDIR": "ipython",
}


@dataclass(frozen=True)
class VoilaLaunch:
    """How to start Voilà: the command, its environment, and where it will answer."""

    argv: list[str]
    env: dict[str, str]
    url: str
    jupyter_dir: Path

    @property
    def ready_url(self) -> str:
        """A URL that answers once Voilà serves, without starting a kernel."""
        return f"{self.url}/voila/static/voila.js"

    def prepare(self) -> None:
        """Create the Jupyter state directories and trust the dashboard notebook."""
        for name in _JUPYTER_DIRS:
            Path(self.env[name]).mkdir(parents=True, exist_ok=True)
        trust_notebook(Path(self.argv[3]), Path(self.env["JUPYTER_DATA_DIR"]))


def trust_notebook(notebook: Path, data_dir: Path) -> None:
    """Sign ``notebook`` in the trust database under ``data_dir`` (silences Voilà's warning)."""
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary(data_dir=str(data_dir))
    try:
        notary.sign(nbformat.read(notebook, as_version=4))
    finally:
        notary.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that reproduce ``settings`` in a child (the kernels)."""
    env = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f.metadata["env"]] = str(value)
    return env


def jupyter_env(jupyter_dir: Path, inherited_path: str = "") -> dict[str, str]:
    """Jupyter and IPython directories under ``jupyter_dir``; templates and the venv on the path."""
    env = {name: str(jupyter_dir / sub) for name, sub in _JUPYTER_DIRS.items()}
    search = [str(TEMPLATE_ROOT), str(Path(sys.prefix) / "share" / "jupyter")]
    search += [p for p in inherited_path.split(os.pathsep) if p and p not in search]
    env["JUPYTER_PATH"] = os.pathsep.join(search)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def kernel_limits(settings: Settings) -> list[str]:
    """Voilà options for the page caps and the culling of kernels without a page."""
    try:
        TrustedProxies(settings.trusted_proxies)
    except ValueError as e:
        raise UltError("bad_setting", f"ULT_TRUSTED_PROXIES: {e}.") from None
    total, reserved = settings.dashboard_kernels, settings.dashboard_kernels_reserved
    if total and not 0 <= reserved < total:
        raise UltError(
            "bad_setting",
            "ULT_DASHBOARD_KERNELS_RESERVED must be at least 0 and less than "
            f"ULT_DASHBOARD_KERNELS ({total}): anonymous pages need some too.",
        )
    timeout = settings.dashboard_kernel_timeout
    return [
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER}",
        f"--PageKernelManager.pages_per_address={settings.dashboard_kernels_per_address}",
        f"--PageKernelManager.max_pages={settings.dashboard_kernels}",
        f"--PageKernelManager.reserved_pages={settings.dashboard_kernels_reserved}",
        f"--PageKernelManager.key_guesses_per_minute={settings.key_guesses_per_minute}",
        f"--PageKernelManager.trusted_proxies={settings.trusted_proxies}",
        f"--MappingKernelManager.cull_idle_timeout={timeout}",
        f"--MappingKernelManager.cull_interval={max(1, timeout // 4)}",
        f"--PageKernelManager.page_gone_s={settings.dashboard_page_gone_s}",
    ]


def voila_command(
    settings: Settings,
    port: int | None = None,
    notebook: Path = NOTEBOOK,
    base_env: dict[str, str] | None = None,
    pool_size: int = POOL_SIZE,
) -> VoilaLaunch:
    """The Voilà command line and environment for the sponsor dashboard.

    ``base_env`` (default: this process's environment) is what the child inherits before
    the settings and Jupyter directories are applied.
    """
    port = port or settings.dashboard_port
    jupyter_dir = settings.var_path.resolve() / "jupyter"
    env = dict(os.environ if base_env is None else base_env)
    env.update(settings_env(settings))
    env.update(jupyter_env(jupyter_dir, env.get("JUPYTER_PATH", "")))
    env[GUARD_URL_ENV] = served_url(settings.host, port) + GUARD_PATH  # keyguard.py
    argv = [
        sys.executable,
        "-m",
        "ult.dashboard.voila_app",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={settings.host}",
        "--Voila.port_retries=0",
        f"--Voila.connection_dir_root={jupyter_dir / 'runtime'}",
        "--Voila.log_level=WARN",
        f"--template={TEMPLATE}",
        "--theme=light",
        "--strip_sources=True",
        "--show_tracebacks=False",
        "--preheat_kernel=True",
        f"--pool_size={pool_size}",
        *(f"--VoilaConfiguration.extension_denylist={name}" for name in EXTENSION_DENYLIST),
        *kernel_limits(settings),
        "--KernelManager.transport_encryption=required",  # CurveZMQ between Voilà and kernels
    ]
    return VoilaLaunch(argv, env, f"http://{settings.host}:{port}", jupyter_dir)


def run_dashboard(settings: Settings, port: int | None = None, announce: bool = True) -> int:
    """Serve the dashboard in the foreground (this process becomes Voilà) until stopped.

    Returns 1 only when it cannot start; otherwise it does not return.
    """
    if not NOTEBOOK.exists():
        print(f"The dashboard notebook is missing: {NOTEBOOK}", file=sys.stderr)
        return 1
    launch = voila_command(settings, port)
    launch.prepare()
    if announce:  # `ult up` prints the URL itself, once Voilà answers
        print(f"Sponsor dashboard (Voilà) on {launch.url}", flush=True)
    sys.stderr.flush()
    os.execve(launch.argv[0], launch.argv, launch.env)
    return 1  # not reached
