"""`authz review BASE`: every check run to the end, one document, the verdict and every reason
first. The whole workflow, with the proof, is tests/cli/test_init.py's; here the
diff compares on the demo org alone, by enumeration, to be quick."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES, ROOT

DIFF = importlib.import_module("suite_authz.cli.commands.diff")
HISTORY = POLICIES / "history" / "2025-05"


@pytest.fixture(autouse=True)
def demo_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DIFF, "default_orgs", lambda head, extra: [("demo", DEMO)])


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "legacy"))
    return target


def test_a_widening_fails_with_who_gains_what_under_the_verdict(tmp_path: Path) -> None:
    """The shipped set against its 2025-05 history: the D4 widening, which non-member-gain
    fails, and every other check passing."""
    policies = _copy(tmp_path)
    args = ["review", str(HISTORY), "--policies", str(policies), "--no-prove"]
    code, md, err = run(*args, "--fail-on", "non-member-gain", "--format", "markdown")
    assert code == 1, md + err
    title, verdict, reasons, checks, *_ = md.split("\n\n")
    assert title == f"### Policy review: `{HISTORY}` → `{policies}`"
    assert verdict.startswith("**Fails (exit 1): ") and "from authz diff" in verdict
    assert all(line.startswith("- `authz diff --fail-on non-member-gain`: undeclared: ")
               for line in reasons.splitlines())  # fmt: skip
    assert "| `authz test` | passes: 63 passed, 0 failed; coverage 100.0% |" in checks
    assert "#### Widenings (someone gains)" in md and "| who | action | type |" in md
    assert md.count("integration user of Books") >= 2


def test_a_set_that_does_not_parse_is_named_and_the_rest_is_not_run(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    (policies / "extra.cedar").write_text("permit (principal, action, resource) when {;\n", "utf-8")
    code, out, _ = run("review", str(POLICIES), "--policies", str(policies), "--json")
    assert code == 1
    doc = json.loads(out)
    by = {c["command"].split(" ")[1]: c for c in doc["checks"]}
    assert by["validate"]["exit"] == 1 and any(
        "extra.cedar:1" in r for r in by["validate"]["reasons"]
    )
    assert by["lint"]["exit"] == 1 and by["fmt"]["exit"] == 1
    assert [by[c]["ran"] for c in ("test", "verify", "diff")] == [False, False, False]
    assert doc["exit"] == 1 and doc["diff"] is None


def test_bad_input_exits_2_and_still_prints_the_document(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    code, md, _ = run(
        "review", "no-such-rev", "--policies", str(policies), "--no-prove", "--format", "markdown"
    )
    assert code == 2
    assert "**Cannot review (exit 2): 1 reason, from authz diff**" in md
    assert "`no-such-rev` is neither a policy directory nor a git revision" in md
    code, _, err = run(
        "review", str(POLICIES), "--policies", str(policies), "--expect", str(tmp_path / "none")
    )
    assert code == 2, err


def test_a_clean_change_passes(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    code, out, err = run("review", str(POLICIES), "--policies", str(policies), "--no-prove")
    assert code == 0, out + err
    assert out.startswith("Passes: 6 of 6 checks passed\n")


def test_the_diffs_markdown_is_one_table_per_direction_with_the_verdict_first() -> None:
    """`authz diff --format markdown`, the D4 widening of 2025-05 on the demo org: a golden
    file (AUTHZ_UPDATE_GOLDEN=1 rewrites it)."""
    code, md, _ = run(
        "diff", "history:2025-05", "shipped", "--fail-on", "non-member-gain", "--format", "markdown"
    )
    assert code == 1
    golden = ROOT / "tests" / "data" / "golden" / "diff-2025-05.md"
    if os.environ.get("AUTHZ_UPDATE_GOLDEN") == "1":
        golden.write_text(md, encoding="utf-8")
    assert md == golden.read_text(encoding="utf-8")
