"""docs/development.md's map of the tree is read by newcomers before the code: every room,
directory and file it names must exist where it says, and every room of the engine must be
on it. A rename that forgets the map fails here, not in a newcomer's first hour."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAP = ROOT / "docs" / "development.md"
# a file or directory named in the map: `model.py`, `backends/`, `ui/`, `templates/`
NAMED = re.compile(r"(?<![\w./-])([a-z_][\w-]*(?:/[\w-]+)*(?:\.(?:py|html|md|cedar|json)|/))")


def _block(heading: str) -> list[str]:
    text = MAP.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    return section.split("```", 2)[1].splitlines()[1:]


def _entries(lines: list[str]) -> dict[str, list[str]]:
    """Each top-level entry of the map (`engine/`, `server/`, ...) with its lines."""
    entries: dict[str, list[str]] = {}
    current = ""
    for line in lines:
        if line and not line[0].isspace():
            current = line.split()[0]
            entries[current] = []
        entries.setdefault(current, []).append(line)
    return entries


def _named(line: str) -> list[str]:
    # the description column, where a line's own name may be followed by prose naming others
    return NAMED.findall(line)


def _exists(top: Path, name: str) -> bool:
    if (top / name).exists() or (ROOT / name).exists():
        return True
    return any(top.rglob(name.rstrip("/")))


def test_every_room_of_the_engine_is_on_the_map_and_every_room_on_it_exists() -> None:
    engine = _entries(_block("## The layout in detail"))["engine/"]
    mapped = {line.split()[0].rstrip("/") for line in engine if re.match(r"^  \S+/\s", line)}
    on_disk = {init.parent.name for init in (ROOT / "engine").glob("*/__init__.py")}
    assert mapped == on_disk


@pytest.mark.parametrize("top", ["engine/", "server/", "cli/", "client/", "tools/", "bench/"])
def test_every_name_on_the_map_exists(top: str) -> None:
    lines = _entries(_block("## The layout in detail"))[top]
    missing = sorted(
        {
            name
            for line in lines
            for name in _named(line)
            if name != top and not _exists(ROOT / top.rstrip("/"), name)
        }
    )
    assert missing == [], f"docs/development.md names under {top} what is not there"


def test_the_check_finds_a_name_that_is_not_there() -> None:
    assert _named("  served.py  what a server serves; pages.py (tokens)") == [
        "served.py",
        "pages.py",
    ]
    assert not _exists(ROOT / "engine", "served.py")
    assert _exists(ROOT / "engine", "served_set.py")
