"""`--format json` / `--json`: one JSON document on stdout, with the keys docs/cli.md lists."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

LEGACY = POLICIES / "examples" / "legacy-org.json"
USAGE = POLICIES / "examples" / "legacy-usage.csv"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("history"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _json(*args: str, code: int = 0) -> object:
    got, out, err = run(*args)
    assert got == code, out + err
    return json.loads(out)


def test_review_commands(here: Path) -> None:
    d = _json("explain", "--org", str(DEMO), "--subject", "asha", "--action", "view",
              "--resource", "estimate:est-1", "--json")  # fmt: skip
    assert d["decision"] == "allow" and d["request"]["subject"] == "asha"
    v = _json("validate", "--org", str(DEMO), "--format", "json")
    assert v["valid"] and v["org"]["id"] == "demo" and v["policies"]["policies"] > 0
    assert v["problems"] == []
    assert _json("lint", "--json") == {"findings": [], "plans": {"on": True}}
    assert _json("fmt", "--check", "--json") == {"directory": "policies", "would_reformat": []}
    t = _json("test", "--coverage", "--json")
    assert t["failed"] == 0 and t["coverage"]["percent"] == 100.0
    c = _json("crosscheck", "--org", str(DEMO), "--json")
    assert c["disagreements"] == [] and c["compared"] > 1000


def test_validate_reports_every_problem_as_json_and_exits_2(here: Path) -> None:
    bad = here / "bad.json"
    data = json.loads(DEMO.read_text())
    data["users"][0]["enrolments"][0]["product"] = "bookz"
    data["records"][0]["type"] = "estimat"
    bad.write_text(json.dumps(data))
    v = _json("validate", "--org", str(bad), "--json", code=2)
    assert not v["valid"] and len(v["problems"]) == 2
    assert any("did you mean `books`?" in p for p in v["problems"])


def test_lint_findings_as_parts(here: Path) -> None:
    (here / "policies" / "extra.cedar").write_text("permit(principal,action,resource);\n")
    findings = _json("lint", "--json", code=1)["findings"]  # type: ignore[index]
    assert {"file": "extra.cedar", "line": 1, "message": "policy #1 has no @id"} in findings
    assert len(findings) == 5


def test_store_commands(here: Path) -> None:
    i = _json("org", "import", str(LEGACY), "--json")
    assert i["id"] == "legacy" and i["version"] == 1 and not i["unchanged"]
    assert _json("org", "import", str(LEGACY), "--json")["unchanged"] is True  # type: ignore[index]
    assert [o["id"] for o in _json("org", "list", "--json")] == ["legacy"]  # type: ignore[union-attr]
    p = _json("policy", "publish", "--json", "--as", "t")
    assert p["state"] == "active"
    listed = _json("policy", "list", "--json")
    assert listed[0]["version"] == p["version"] and listed[0]["active"]  # type: ignore[index]
    shown = _json("policy", "show", p["version"], "--json")  # type: ignore[index]
    assert "schema.cedarschema" in shown["files"]  # type: ignore[index]
    assert _json("policy", "activate", p["version"], "--json")["state"] == "active"  # type: ignore
    plan = here / "plan.json"
    made = _json("migrate", "plan", "--org", "legacy", "--usage", str(USAGE), "--as-of",
                 "2026-11-25", "--out", str(plan), "--json")  # fmt: skip
    a = _json("migrate", "apply", "--org", "legacy", "--plan", str(plan), "--as", "olga", "--json")
    assert a["changed"] and a["plan_id"] == made["plan_id"]  # type: ignore[index]
    h = _json("migrate", "history", "--org", "legacy", "--json")
    assert [e["action"] for e in h] == ["migration.apply"]  # type: ignore[union-attr]


def test_json_and_another_format_together_is_a_usage_error(here: Path) -> None:
    code, _, err = run("lint", "--json", "--format", "text")
    assert code == 2 and "--json and --format text ask for two formats" in err
