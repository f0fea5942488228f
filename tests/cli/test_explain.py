"""authz explain and authz validate through click's CliRunner: exit codes and output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from suite_authz.engine.core import load_policies
from tests.cli.runner import explain, run
from tests.conftest import DATA, DECISION_KEYS, DEMO, POLICIES

GOLDEN = DATA / "golden"


def test_allow_exits_0_and_names_the_acting_user() -> None:
    code, out, _ = explain("--subject", "asha", "--action", "create", "--resource", "estimate")
    assert code == 0
    assert out.startswith("ALLOW  asha · create · estimate")
    assert "acting as  asha in Books (own identity, D1)" in out


def test_deny_exits_1_and_says_what_was_missing() -> None:
    code, out, _ = explain(
        "--subject", "asha", "--action", "delete", "--resource", "estimate:est-1"
    )
    assert code == 1
    assert (
        "needed     integration users of Books may view, create and edit estimates, "
        "not delete them (D4)" in out
    )


def test_view_shows_fields_to_redact() -> None:
    code, out, _ = explain("--subject", "chen", "--action", "view", "--resource", "item:item-1")
    assert code == 0 and "redact     cost_price" in out


def test_fields_and_context_options_reach_the_engine() -> None:
    code, out, _ = explain("--subject asha --action edit --resource invoice:inv-1 --field discount")
    assert code == 1 and "`discount`" in out
    code, out, _ = explain(
        "--subject fay --action send_email --resource estimate:est-2",
        "--context",
        "sender=olivia@demo.example",
    )
    assert code == 1 and "sender-own-address" in out


@pytest.mark.parametrize(
    ("args", "golden"),
    [
        (
            ["--subject", "fay", "--action", "send_email", "--resource", "estimate:est-2"],
            "explain-fay-send-email.json",
        ),
        (
            ["--subject", "asha", "--action", "delete", "--resource", "estimate:est-1"],
            "explain-asha-delete.json",
        ),
        (
            ["--subject", "ben", "--action", "create", "--resource", "invoice"],
            "explain-ben-create.json",
        ),
    ],
)
def test_json_output_matches_golden_file(args: list[str], golden: str) -> None:
    code, out, _ = explain(*args, "--json")
    data = json.loads(out)
    assert data["policy_version"]
    data["policy_version"] = "<version>"  # changes with every policy edit
    expected = json.loads((GOLDEN / golden).read_text())
    assert data == expected
    assert code == (0 if data["decision"] == "allow" else 1)


def test_json_has_every_documented_key() -> None:
    _, out, _ = explain("--subject", "asha", "--action", "view", "--resource", "estimate", "--json")
    assert list(json.loads(out)) == ["request", *DECISION_KEYS, "policy_source"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--subject", "asha", "--action", "erase", "--resource", "estimate"],
            "authz: action: `erase` is not one of",
        ),
        (
            ["--subject", "asha", "--action", "view", "--resource", "estimate", "--channel", "fax"],
            "authz: channel: `fax`",
        ),
        (
            ["--subject", "asha", "--action", "view", "--resource", "estimate", "--context", "x"],
            "authz: --context: `x` is not KEY=VALUE",
        ),
        (
            [
                "--subject",
                "asha",
                "--action",
                "view",
                "--resource",
                "estimate",
                "--context",
                "enrolments=lots",
            ],
            "authz: context.enrolments: `lots` is not a whole number",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = explain(*args)
    assert code == 2 and out == ""
    assert err.startswith(message)


def test_unknown_subject_is_a_deny_not_an_error() -> None:
    code, out, _ = explain("--subject", "nobody", "--action", "view", "--resource", "estimate")
    assert code == 1 and "unknown subject `nobody`" in out


@pytest.mark.parametrize("new", ["estimate:#new", "estimate"])
def test_estimate_new_is_a_new_estimate_as_on_the_sidecar(new: str) -> None:
    code, out, _ = explain(f"--subject asha --action create --resource {new} --json")
    data = json.loads(out)
    assert code == 0 and data["decision"] == "allow" and data["rules"] == ["D4"]
    assert data["request"]["resource_id"] is None
    assert (
        explain(f"--subject asha --action create --resource {new}")[1]
        == (explain("--subject asha --action create --resource estimate")[1])
    )


@pytest.mark.parametrize(
    ("words", "hint"),
    [
        (
            "--subject ashaa --action view --resource estimate:est-1",
            "unknown subject `ashaa`: org `demo` has no such user; did you mean `asha`?",
        ),
        (
            "--subject asha --action view --resource estimate:est-10",
            "unknown estimate `est-10`: org `demo` has no such record; did you mean `est-1`?",
        ),
    ],
)
def test_an_unknown_id_is_a_deny_with_a_did_you_mean(words: str, hint: str) -> None:
    code, out, _ = explain(words)
    assert code == 1 and f"why        {hint}" in out


def test_bad_org_file_exits_2_naming_each_path(tmp_path: Path) -> None:
    data = json.loads(DEMO.read_text())
    data["users"][0]["enrolments"][0]["product"] = "bookz"
    data["users"][1]["email"] = "nope"
    bad = tmp_path / "org.json"
    bad.write_text(json.dumps(data))
    code, _, err = run(
        "explain",
        "--org",
        str(bad),
        "--subject",
        "asha",
        "--action",
        "view",
        "--resource",
        "estimate",
    )
    assert code == 2
    assert "users[0].enrolments[0].product: 'bookz' is not one of" in err
    assert "users[1].email: string should match pattern" in err
    assert "(and 1 more)" in err.splitlines()[0]


def test_validate_reports_counts_and_version() -> None:
    code, out, _ = run("validate", "--org", str(DEMO))
    assert code == 0
    assert "policies (" in out and "version" in out and "ok: org `demo`" in out


def test_validate_names_file_line_and_policy(tmp_path: Path) -> None:
    target = tmp_path / "p"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "examples", "tests"))
    f = target / "channel.cedar"
    f.write_text(f.read_text().replace("context.channel", "context.chanel"))
    code, _, err = run("validate", "--policies", str(target))
    assert code == 2
    assert "channel.cedar:" in err and "policy `integration-users-crm-only`" in err


def test_explain_with_the_2025_05_policies_denies_asha_an_invoice() -> None:
    code, out, _ = explain(
        "--subject",
        "asha",
        "--action",
        "create",
        "--resource",
        "invoice",
        "--policies",
        str(POLICIES / "history" / "2025-05"),
    )
    assert code == 1
    assert "integration users of Books may view invoices, not create them (D4)" in out


@pytest.mark.parametrize(
    ("words", "hint"),
    [
        ("--subject asha --action veiw --resource estimate:est-1", "did you mean `view`?"),
        ("--subject asha --action view --resource estimates:est-1", "did you mean `estimate`?"),
        (
            "--subject asha --action edit --resource estimate:est-1 --field discont",
            "did you mean `discount`?",
        ),
        (
            "--subject asha --action view --resource estimate:est-1 --channel crn",
            "authz: channel: `crn` is not one of crm, direct; did you mean `crm`?",
        ),
        (
            "--subject asha --action view --resource estimate:est-1 --context actingas=ben",
            "authz: context.actingas: unknown key; did you mean `acting_as`?",
        ),
    ],
)
def test_a_misspelt_action_type_field_channel_or_context_key_gets_a_did_you_mean(
    words: str, hint: str
) -> None:
    code, _, err = explain(words)
    assert code == 2 and hint in err


def test_over_a_store_explain_decides_with_its_active_version_and_says_so(
    tmp_path: Path,
) -> None:
    """As the sidecar serves it: the 2025-05 set published into the store decides, not the
    shipped set or ./policies (the command once explained another version than the one
    served)."""
    store = str(tmp_path / "s.sqlite3")
    assert run("org", "import", str(DEMO), "--store", store)[0] == 0
    ask = ["--org", "demo", "--subject", "asha", "--action", "create", "--resource", "sales_order"]
    shipped = run("explain", *ask, "--store", store, "--json")
    assert shipped[0] == 0 and json.loads(shipped[1])["policy_source"] == "shipped"
    older = str(POLICIES / "history" / "2025-05")
    assert run("policy", "publish", older, "--store", store, "--as", "test")[0] == 0
    code, out, _ = run("explain", *ask, "--store", store)
    assert code == 1 and "(the store's active version)" in out
    code, out, _ = run("explain", *ask, "--store", store, "--json")
    said = json.loads(out)
    assert said["policy_source"] == "store" and said["decision"] == "deny"
    assert said["policy_version"] == load_policies(Path(older)).version
    code, out, _ = run("explain", *ask, "--store", store, "--shipped")
    assert code == 0 and "(the shipped set)" in out
    code, out, _ = run("explain", *ask, "--store", store, "--policies", str(POLICIES))
    assert code == 0 and f"(directory {POLICIES})" in out
