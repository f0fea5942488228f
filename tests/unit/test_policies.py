"""Loading a policy set: strict schema validation, annotations, ids; errors name file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from suite_authz.engine.core import PolicyError
from suite_authz.engine.core.policies import RULES, load_policies
from suite_authz.engine.review.lint import lint_policies
from tests.conftest import POLICIES


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    target.mkdir()
    for f in [
        *POLICIES.glob("*.cedar"),
        POLICIES / "schema.cedarschema",
        POLICIES / "modules.json",
    ]:
        shutil.copy(f, target / f.name)
    return target


def refused(directory: Path) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        load_policies(directory)
    return info.value


def test_every_shipped_policy_has_id_rule_and_reason() -> None:
    ps = load_policies(POLICIES)
    assert len(ps.policies) >= 20
    for info in ps.policies.values():
        assert info.rules and all(r in RULES for r in info.rules), info.id
        assert info.reason, info.id
        assert info.file.endswith(".cedar") and info.line > 0


def test_restrictions_are_forbids_so_denies_name_them() -> None:
    ps = load_policies(POLICIES)
    for info in ps.policies.values():
        if info.obligation is not None:  # asked after an allow: names a rule that held
            assert info.effect == "permit" and not info.product, info.id
            continue
        if set(info.rules) & {"D2", "D3", "D5", "D7", "D8"}:
            assert info.effect == "forbid", info.id
        if info.effect == "forbid":
            assert info.missing, info.id
        else:
            assert info.product and info.seat, info.id


def test_every_rule_has_a_policy_or_is_computed() -> None:
    ps = load_policies(POLICIES)
    encoded = {r for info in ps.policies.values() for r in info.rules}
    assert set(RULES) == encoded
    # D9 (the union), D7's redaction and D11's sender are obligations the policies name too.
    named = {r for info in ps.policies.values() if info.obligation for r in info.rules}
    assert named == {"D7", "D8", "D9", "D10", "D11"}


def test_policy_line_numbers_point_at_the_policy() -> None:
    ps = load_policies(POLICIES)
    info = ps.policies["crm-profile-gate"]
    lines = (POLICIES / info.file).read_text().splitlines()
    assert lines[info.line - 1] == '@id("crm-profile-gate")'


def test_version_changes_with_any_policy_text(policy_copy: Path) -> None:
    before = load_policies(policy_copy).version
    target = policy_copy / "approval.cedar"
    target.write_text(target.read_text() + "\n// a comment changes the text\n")
    assert load_policies(policy_copy).version != before


def test_parse_error_names_file_and_line(policy_copy: Path) -> None:
    target = policy_copy / "approval.cedar"
    text = target.read_text()
    broken = text.replace(
        'action == Action::"submit"',
        'action === Action::"submit"',
    )
    target.write_text(broken)
    err = refused(policy_copy)
    line = broken[: broken.index("===")].count("\n") + 1
    assert err.problems[0].startswith("approval.cedar:")
    reported = int(err.problems[0].split(":")[1])
    assert reported <= line and line - reported < 8
    assert "does not parse" in err.problems[0]


def test_schema_violation_names_file_line_and_policy_id(policy_copy: Path) -> None:
    target = policy_copy / "approval.cedar"
    target.write_text(target.read_text().replace("resource.status ==", "resource.state =="))
    err = refused(policy_copy)
    assert any(
        p.startswith("approval.cedar:")
        and "policy `approve-pending-only`" in p
        and "attribute `state`" in p
        for p in err.problems
    ), err.problems


def test_policy_without_id_is_refused(policy_copy: Path) -> None:
    (policy_copy / "extra.cedar").write_text(
        '@rule("D4")\n@reason("x")\n'
        "permit (principal, action, resource) when { principal.crm_admin };\n"
    )
    err = refused(policy_copy)
    assert err.problems == ("extra.cedar:1: policy #1 has no @id",)


def test_rule_must_name_a_domain_rule(policy_copy: Path) -> None:
    (policy_copy / "extra.cedar").write_text(
        '@id("x")\n@rule("D13")\n@reason("x")\n'
        "permit (principal, action, resource) when { principal.crm_admin };\n"
    )
    err = refused(policy_copy)
    expected = "extra.cedar:1: policy `x`: @rule must name rules D1-D12 of docs/rules.md, got `D13`"
    assert expected in err.problems


def test_duplicate_ids_are_refused(policy_copy: Path) -> None:
    (policy_copy / "extra.cedar").write_text(
        '@id("crm-profile-gate")\n@rule("D3")\n@reason("x")\n'
        "permit (principal, action, resource) when { principal.crm_admin };\n"
    )
    err = refused(policy_copy)
    assert any(
        p.startswith("profile.cedar:") and "duplicate @id, first at extra.cedar:1" in p
        for p in err.problems
    ), err.problems


def test_broken_schema_is_refused(policy_copy: Path) -> None:
    (policy_copy / "schema.cedarschema").write_text("entity User = { oops };")
    assert "invalid schema" in str(refused(policy_copy))


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    assert "not a directory" in str(refused(tmp_path / "nope"))


def test_history_2025_05_is_a_complete_policy_set() -> None:
    old = load_policies(POLICIES / "history" / "2025-05")
    new = load_policies(POLICIES)
    assert set(old.texts) == set(new.texts)
    differing = {f for f in new.texts if old.texts[f] != new.texts[f]}
    assert differing == {"integration_users.cedar"}
    assert old.schema_text == new.schema_text


@pytest.mark.parametrize(("kind", "rule"), [("redact", "D7"), ("sender", "D11")])
def test_a_set_that_serves_must_say_how_it_redacts_and_whom_mail_is_from(
    policy_copy: Path, kind: str, rule: str
) -> None:
    # Dropping the redaction would make every view an allow that hides nothing: refused.
    text = (policy_copy / "obligations.cedar").read_text()
    (policy_copy / "obligations.cedar").write_text(
        text.replace(f'@obligation("{kind}")', '@obligation("held")')
    )
    err = refused(policy_copy)
    assert any(f'no @obligation("{kind}") policy' in p and rule in p for p in err.problems)
    assert any(f'no @obligation("{kind}")' in f for f in lint_policies(policy_copy))
