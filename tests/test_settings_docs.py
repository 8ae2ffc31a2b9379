"""The settings' defaults are written once (ult/settings.py): README.md's table is the output
of `ult settings --markdown`, and no other doc restates a default in a table."""

from __future__ import annotations

import re
from pathlib import Path

from ult.cli import main
from ult.settings import describe, markdown_table

ROOT = Path(__file__).resolve().parent.parent
BEGIN = re.compile(r"<!-- settings:begin[^>]*-->\n")
END = "<!-- settings:end -->"


def readme_table() -> str:
    readme = (ROOT / "README.md").read_text()
    start = BEGIN.search(readme)
    assert start, "README.md lost its settings markers"
    return readme[start.end() : readme.index(END, start.end())]


def test_the_readme_table_is_the_generated_one() -> None:
    assert readme_table() == markdown_table(), (
        "README.md's settings table differs from ult/settings.py: paste "
        "`ult settings --markdown` between its settings markers"
    )


def test_the_cli_prints_the_table(capsys) -> None:
    assert main(["settings", "--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table()
    assert main(["settings"]) == 0
    plain = capsys.readouterr().out
    assert all(f"{env}=" in plain for env, _, _ in describe())


def test_no_other_table_restates_a_default() -> None:
    """A row naming a setting has no default column outside the generated table."""
    envs = "|".join(re.escape(env) for env, _, _ in describe())
    header = re.compile(r"^\|[^|\n]*\|\s*default\s*\|", re.MULTILINE)
    row = re.compile(rf"^\| `({envs})` \|", re.MULTILINE)
    readme = (ROOT / "README.md").read_text().replace(readme_table(), "")
    for path, text in [("README.md", readme)] + [
        (str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "docs").glob("*.md"))
    ]:
        assert not (header.search(text) and row.search(text)), f"{path} restates defaults"
