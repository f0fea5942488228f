"""docs/rules.md is the project's rule book: it names every policy under the rules it encodes, and
nothing in the repository points at a rule book outside it."""

from __future__ import annotations

import re
import subprocess

from suite_authz.engine.core.catalogue import RULE_TITLES
from suite_authz.engine.core.policies import RULES, load_policies
from tests.conftest import POLICIES, ROOT

RULE_BOOK = ROOT / "docs" / "rules.md"
OUTSIDE = ("../" + "shared", "DOMAIN" + ".md")  # spelled apart so this file does not match


def sections() -> dict[str, str]:
    """`D4` / `R1` -> the text of its `### D4 ...` section."""
    text = RULE_BOOK.read_text(encoding="utf-8")
    parts = re.split(r"^### ([DR]\d+) ", text, flags=re.MULTILINE)
    return {parts[n]: parts[n + 1] for n in range(1, len(parts) - 1, 2)}


def test_every_rule_and_ruling_has_a_section() -> None:
    assert set(sections()) == {*RULES, "R1", "R2", "R3", "R4"}


def test_every_policy_is_named_under_each_rule_it_encodes() -> None:
    found = sections()
    for sets in (POLICIES, POLICIES / "history" / "2025-05"):
        for info in load_policies(sets).policies.values():
            for rule in info.rules:
                assert f"`{info.id}`" in found[rule], (rule, info.id)


def test_every_rule_title_is_the_heading_of_its_section() -> None:
    text = RULE_BOOK.read_text(encoding="utf-8")
    for rule, title in RULE_TITLES.items():
        heading = re.search(rf"^### {rule} (.+)$", text, flags=re.MULTILINE)
        assert heading and heading.group(1).lower().startswith(title.lower()[:12]), rule


def test_nothing_in_the_repository_points_outside_it() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".sqlite3", ".png"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if OUTSIDE[0] in text or OUTSIDE[1] in text:
            outside.append(name)
    assert outside == [], outside
