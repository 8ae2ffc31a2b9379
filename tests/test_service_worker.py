"""The service worker keeps what the wallet page needs offline: every module it imports."""

from __future__ import annotations

import re
from pathlib import Path

import ult

STATIC = Path(ult.__file__).parent / "service" / "static"
IMPORT = re.compile(r"""^import\s[^;]*?from\s+["']\./([\w-]+\.js)["']""", re.M)


def imported(module: str) -> set[str]:
    """``module`` and every module it imports, transitively (static ``import … from``)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += IMPORT.findall((STATIC / "js" / name).read_text())
    return seen


def test_the_shell_holds_every_module_of_the_wallet_page() -> None:
    shell = set(re.findall(r"/js/([\w-]+\.js)`", (STATIC / "sw.js").read_text()))
    needed = imported("wallet.js")
    assert {"wallet.js", "cards.js", "common.js"} <= needed, "the import scan found the modules"
    assert needed <= shell, f"sw.js's SHELL lacks {sorted(needed - shell)}"
