"""The layers of docs/architecture.md hold: no module imports a layer above its own, and the
package has no import cycles."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import ult

PACKAGE = Path(ult.__file__).resolve().parent
TOOLS = ("ult.demo", "ult.bench", "ult.launcher", "ult.cli", "ult.__main__")
# layer → the layers above it, which it must not import
FORBIDDEN = {
    "core": ("ult.service", "ult.dashboard", "ult.analytics", *TOOLS),
    "ult.service": ("ult.dashboard", "ult.analytics", *TOOLS),
    "ult.dashboard": ("ult.analytics", *TOOLS),
    "ult.analytics": ("ult.service", "ult.dashboard", *TOOLS),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The ult modules ``path`` imports (at any depth of the file, lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ult"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ult"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def layer(name: str) -> str:
    for top in FORBIDDEN:
        if name == top or name.startswith(top + "."):
            return top
    return "tool" if name.startswith(TOOLS) else "core"


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = []
    for name, imported in modules().items():
        above = FORBIDDEN.get(layer(name), ())
        wrong += [(name, i) for i in imported if i.startswith(above)]
    assert not wrong


def core_row() -> set[str]:
    """The top-level modules the Layers table of docs/architecture.md puts in the core."""
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| **core** |"))
    cell = re.sub(r"\([^)]*\)", "", row.split("|")[2])  # without the submodules
    return {name for name in re.findall(r"`([^`]+)`", cell) if not name.endswith(".lua")}


def test_the_layer_table_names_every_core_module() -> None:
    """The core is what the table says: dev-only code lives under a tool, not in the core."""
    top = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    core = {name for name in top - {"__init__"} if layer(f"ult.{name}") == "core"}
    assert core == core_row()


def test_no_import_cycles() -> None:
    graph = modules()
    known = set(graph)
    edges = {
        name: {i for i in imported if i in known and i != name and not name.startswith(i + ".")}
        for name, imported in graph.items()
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            assert visit(start, []) is None


def test_the_readme_names_every_setting() -> None:
    from ult.settings import describe

    readme = (PACKAGE.parent / "README.md").read_text()
    missing = [env for env, _, _ in describe() if f"`{env}`" not in readme]
    assert not missing


def test_the_key_table_names_every_key() -> None:
    """docs/architecture.md's Redis keys table lists every key of a sponsor and every global key."""
    from ult import keys

    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    sponsor = keys.SponsorKeys("sid")
    names = [
        getattr(sponsor, name)
        for name, value in vars(keys.SponsorKeys).items()
        if isinstance(value, functools.cached_property)
    ]
    names += [keys.REGISTRY, keys.PLACES, keys.SCHEMA]
    missing = [name for name in names if f"| `{name}` |" not in doc]
    assert not missing, f"docs/architecture.md's key table lacks {missing}"
