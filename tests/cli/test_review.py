"""authz test, fmt and lint: policy review from the command line."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history"))
    return target


def test_shipped_suites_pass_with_full_policy_coverage() -> None:
    code, out, _ = run("test", "--coverage", "--min-coverage", "100")
    assert code == 0
    assert "coverage: 100.0% of policies determining in some case (33 of 33)" in out
    assert out.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_shipped_suites_pass_through_polar() -> None:
    code, out, _ = run("test", "--backend", "polar")
    assert code == 0 and out.strip().endswith(" passed, 0 failed")


def test_failing_case_is_one_line_and_exit_1(tmp_path: Path) -> None:
    suite = tmp_path / "wrong.yaml"
    suite.write_text(
        f"org: {DEMO}\n"
        "cases:\n"
        "  - name: asha may delete (she may not)\n"
        "    request: {subject: asha, action: delete, resource: 'estimate:est-1'}\n"
        "    expect: {decision: allow}\n"
        "  - name: asha may create\n"
        "    request: {subject: asha, action: create, resource: estimate}\n"
        "    expect: {decision: allow, rules: [D4]}\n"
    )
    junit = tmp_path / "junit.xml"
    code, out, _ = run("test", str(suite), "--junit", str(junit))
    assert code == 1
    assert out.splitlines()[0] == (
        "FAIL wrong.yaml: cases[0]: asha may delete (she may not): "
        "decision: expected allow, got deny"
    )
    assert out.strip().splitlines()[-1] == "1 passed, 1 failed"
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "1"
    assert root.find("testsuite/testcase/failure") is not None


def test_a_suite_s_estimate_new_is_a_new_estimate(tmp_path: Path) -> None:
    suite = tmp_path / "new.yaml"
    suite.write_text(
        f"org: {DEMO}\n"
        "cases:\n"
        "  - request: {subject: asha, action: create, resource: 'estimate:#new'}\n"
        "    expect: {decision: allow, rules: [D4]}\n"
        "  - request: {subject: asha, action: create, resource: estimate:#new}\n"
        "    expect: {decision: allow, rules: [D4]}\n"
    )
    code, out, _ = run("test", str(suite))
    assert (code, out.strip().splitlines()[-1]) == (0, "2 passed, 0 failed")


def test_coverage_below_the_minimum_fails_and_names_what_no_case_reached(tmp_path: Path) -> None:
    suite = tmp_path / "one.yaml"
    suite.write_text(
        f"org: {DEMO}\ncases:\n"
        "  - request: {subject: asha, action: create, resource: estimate}\n"
        "    expect: {decision: allow}\n"
    )
    code, out, _ = run("test", str(suite), "--min-coverage", "90")
    assert code == 1
    assert "never determining: approval.cedar:" in out
    assert "below --min-coverage 90%" in out


def test_broken_suite_exits_2(tmp_path: Path) -> None:
    suite = tmp_path / "broken.yaml"
    suite.write_text("org: x\ncases:\n  - request: {subject: a}\n    expect: {decision: maybe}\n")
    code, _, err = run("test", str(suite))
    assert code == 2
    assert "broken.yaml: cases[0].expect.decision: 'maybe' is not one of 'allow' or 'deny'" in err
    assert "broken.yaml: cases[0].request.action: required field is missing" in err


def test_a_misspelt_suite_key_is_named_as_unknown_with_every_other_problem(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "typo.yaml"
    suite.write_text(
        f"org: {DEMO}\n"
        "cases:\n"
        "  - request: {subject: asha, action: view, resource: estimate}\n"
        "    expect: {decison: allow}\n"
        "  - request: {subject: asha, action: view, resource: estimate, chanel: crm}\n"
        "    expect: {decision: allow}\n"
    )
    code, _, err = run("test", str(suite))
    assert code == 2
    assert "typo.yaml: cases[0].expect.decison: unknown field; did you mean `decision`?" in err
    assert "typo.yaml: cases[1].request.chanel: unknown field; did you mean `channel`?" in err
    assert "must be allow or deny" not in err


def test_fmt_check_passes_on_shipped_policies() -> None:
    code, out, _ = run("fmt", "--check")
    assert code == 0 and "every .cedar file is formatted" in out


def test_fmt_rewrites_an_unformatted_file_without_changing_its_policies(policy_copy: Path) -> None:
    target = policy_copy / "identity.cedar"
    target.write_text(target.read_text().replace("forbid (\n  principal,", "forbid (principal,"))
    code, out, _ = run("fmt", "--check", "--policies", str(policy_copy))
    assert code == 1 and f"would reformat {target}" in out
    code, _, _ = run("fmt", "--policies", str(policy_copy))
    assert code == 0
    assert target.read_text() == (POLICIES / "identity.cedar").read_text()


def test_fmt_refuses_a_file_that_does_not_parse(policy_copy: Path) -> None:
    (policy_copy / "identity.cedar").write_text("permit (principal, action, resource")
    code, _, err = run("fmt", "--policies", str(policy_copy))
    assert code == 2 and "identity.cedar: cannot format" in err


def test_lint_is_clean_on_shipped_policies() -> None:
    code, out, _ = run("lint")
    assert code == 0 and out.splitlines() == ["0 findings", "list views: planned"]


def test_lint_names_file_line_and_policy_for_each_finding(policy_copy: Path) -> None:
    (policy_copy / "extra.cedar").write_text(
        '@id("open-door")\n@rule("D4")\n@reason("x")\n@product("books")\n@seat("member")\n'
        "permit (principal, action, resource);\n\n"
        '@id("no-reason")\n@rule("D3")\n@missing("y")\n'
        "forbid (principal, action, resource) when { principal.crm_admin };\n"
    )
    code, out, _ = run("lint", "--policies", str(policy_copy))
    assert code == 1
    assert (
        "extra.cedar:1: policy `open-door`: a permit with no condition on principal or resource"
        in out
    )
    assert "extra.cedar:8: policy `no-reason`: no @reason" in out
    assert out.strip().splitlines()[-1] == "2 findings"


def test_the_legacy_suite_passes_with_full_coverage_of_the_old_model() -> None:
    code, out, _ = run(
        "test", "--policies", str(POLICIES / "legacy"), "--coverage", "--min-coverage", "100"
    )
    assert code == 0, out
    assert "(3 of 3)" in out and out.strip().endswith("8 passed, 0 failed")
    code, out, _ = run("test", "--policies", str(POLICIES / "legacy"), "--backend", "polar")
    assert code == 0 and out.strip().endswith("8 passed, 0 failed")


def test_validate_points_at_the_line_that_names_the_culprit(policy_copy: Path) -> None:
    approval = policy_copy / "approval.cedar"
    text = approval.read_text(encoding="utf-8")
    approval.write_text(text.replace("resource.status ==", "resource.state ==", 1), "utf-8")
    line = next(n for n, x in enumerate(text.splitlines(), start=1) if "resource.status ==" in x)
    code, _, err = run("validate", "--policies", str(policy_copy))
    assert code == 2
    assert (
        f"approval.cedar:{line}: policy `approve-pending-only`: attribute `state` on entity "
        "types `Customer`, `Dashboard`, `Estimate`, `Invoice`" in err
    )
