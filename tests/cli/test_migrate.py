"""authz migrate plan | apply | history, as an admin runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import PolicySet
from tests.cli.runner import run
from tests.conftest import DATA, POLICIES
from tests.migration_support import LEGACY, USAGE, legacy_store


@pytest.fixture
def store(tmp_path: Path, policies: PolicySet) -> str:
    legacy_store(tmp_path, policies)
    return str(tmp_path / "orgs.sqlite3")


def plan(store: str, *extra: str) -> tuple[int, str, str]:
    return run(
        "migrate", "plan", "--org", "legacy", "--store", store, "--usage", str(USAGE),
        "--as-of", "2026-11-25", *extra,
    )  # fmt: skip


def test_plan_text_groups_users_by_outcome_and_says_how_to_apply(store: str) -> None:
    code, out, _ = plan(store)
    assert code == 0
    assert "window     2026-10-01 to 2026-12-31 (open, 37 days left)" in out
    assert "becomes an integration user (3)" in out
    assert "sam   Books          used Books in the window (49 events" in out
    assert "already an integration user (1)" in out
    assert "apply with: authz migrate apply --org legacy --plan PLAN.json" in out


def test_plan_impact_text_names_who_borrowed_from_whom(store: str) -> None:
    code, out, _ = plan(store, "--impact")
    assert code == 0
    assert "every CRM user borrowed olga's rights" in out
    assert "cleo, sol (2 users)" in out
    assert "  lose  customer: view create edit" in out


def test_plan_json_and_out_file_are_the_same_plan(store: str, tmp_path: Path) -> None:
    out_file = tmp_path / "plan.json"
    code, out, _ = plan(store, "--format", "json", "--impact", "--out", str(out_file))
    assert code == 0
    printed = json.loads(out)
    assert printed == json.loads(out_file.read_text())
    assert printed["kind"] == "suite-authz/migration-plan" and "impact" in printed


def test_apply_then_again_then_history(store: str, tmp_path: Path) -> None:
    out_file = tmp_path / "plan.json"
    plan(store, "--out", str(out_file))
    args = ("migrate", "apply", "--org", "legacy", "--plan", str(out_file), "--store", store)
    code, out, _ = run(*args, "--as", "olga")
    assert code == 0 and "3 enrolments, now version 2" in out
    code, out, _ = run(*args, "--as", "olga")
    assert code == 0 and "was applied to org `legacy` already" in out
    code, out, _ = run("migrate", "history", "--org", "legacy", "--store", store)
    assert code == 0 and out.count("applied  by olga") == 1
    code, out, _ = run(
        "migrate", "history", "--org", "legacy", "--store", store, "--format", "json"
    )
    assert json.loads(out)[0]["detail"]["version_after"] == 2


def test_apply_by_a_non_admin_is_a_deny_exit_1(store: str, tmp_path: Path) -> None:
    out_file, log = tmp_path / "plan.json", tmp_path / "decisions.jsonl"
    plan(store, "--out", str(out_file))
    code, _, err = run(
        "migrate", "apply", "--org", "legacy", "--plan", str(out_file), "--store", store,
        "--as", "sam", "--decision-log", str(log),
    )  # fmt: skip
    assert code == 1 and "only a CRM admin" in err
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 4 and not any(line["decision"] for line in lines)
    assert lines[0]["request"]["action"] == {"name": "run_migration"}
    code, out, _ = run("migrate", "history", "--org", "legacy", "--store", store)
    assert "refused  by sam" in out


@pytest.mark.parametrize(
    ("plan_text", "message"),
    [
        ("{", "not JSON"),
        ('{"org": "demo"}', "the plan is for org `demo`, not `legacy`"),
        ('{"org": "legacy"}', "not a migration plan"),
    ],
)
def test_apply_of_a_bad_plan_file_is_exit_2(
    store: str, tmp_path: Path, plan_text: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(plan_text)
    code, _, err = run(
        "migrate", "apply", "--org", "legacy", "--plan", str(bad), "--store", store, "--as", "olga"
    )
    assert code == 2 and message in err


def test_plan_errors_are_exit_2_with_the_reason(store: str, tmp_path: Path) -> None:
    bad = tmp_path / "usage.csv"
    bad.write_text("user,module,events,last_used\nzed,estimate,1,2026-11-01\n")
    code, _, err = run("migrate", "plan", "--org", "legacy", "--store", store, "--usage", str(bad))
    assert code == 2 and "row 2.user: `zed` is not a user of org `legacy`" in err
    code, _, err = run("migrate", "plan", "--org", "nope", "--store", store)
    assert code == 2 and "no org `nope`" in err
    code, _, err = run(
        "migrate", "plan", "--org", "legacy", "--store", store, "--as-of", "2026-09-01"
    )
    assert code == 2 and "window opens on 2026-10-01" in err


def test_plan_refuses_an_org_the_rollout_does_not_reach(tmp_path: Path) -> None:
    data = json.loads(LEGACY.read_text())
    data["data_centre"] = "US"
    src = tmp_path / "us.json"
    src.write_text(json.dumps(data))
    store = str(tmp_path / "s.sqlite3")
    assert run("org", "import", str(src), "--store", store)[0] == 0
    code, _, err = run("migrate", "plan", "--org", "legacy", "--store", store)
    assert code == 2 and "has not reached this org yet" in err


def test_the_plan_json_and_plan_id_stay_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinned before the plan becomes typed records: the JSON a plan prints, and so
    its plan_id, must not change with the refactor. Only the signature differs by store (its
    key is the store's own)."""
    store = str(tmp_path / "s.sqlite3")
    legacy = str(POLICIES / "examples" / "legacy-org.json")
    monkeypatch.chdir(POLICIES.parent)  # the plan names its usage file: the same in any clone
    usage = "policies/examples/legacy-usage.csv"
    assert run("org", "import", legacy, "--store", store)[0] == 0
    code, out, _ = run("migrate", "plan", "--org", "legacy", "--usage", usage, "--as-of",
                       "2026-11-25", "--impact", "--json", "--store", store)  # fmt: skip
    assert code == 0
    made = json.loads(out)
    del made["signature"]
    golden = DATA / "golden" / "plan-legacy-2026-11-25.json"  # from the code before the refactor
    assert json.dumps(made, indent=2) + "\n" == golden.read_text(encoding="utf-8")
