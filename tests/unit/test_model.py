"""Org snapshots: refused whole, with every bad field named by its JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import Engine, InvalidOrg, Request
from suite_authz.engine.core.model import Org, load_org
from suite_authz.engine.core.policies import PolicySet
from tests.conftest import DATA


def refused(policies: PolicySet, data: Any) -> InvalidOrg:
    with pytest.raises(InvalidOrg) as info:
        load_org(data, policies.catalogue)
    return info.value


def changed(demo_raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(demo_raw)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_unknown_product_is_named_by_path(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    err = refused(policies, changed(demo_raw, "users.0.enrolments.0.product", "bookz"))
    assert (
        "users[0].enrolments[0].product: 'bookz' is not one of 'books' or 'subscriptions'; "
        "did you mean `books`?" in err.problems
    )


def test_every_bad_field_is_reported(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    data = changed(demo_raw, "users.3.email", "not-an-email")
    data["records"][0]["type"] = "invoicez"
    data["surprise"] = 1
    err = refused(policies, data)
    paths = [p.split(":")[0] for p in err.problems]
    assert paths == ["records[0].type", "surprise", "users[3].email"]


@pytest.mark.parametrize("chunk", [1, 2, 3, 2000])
def test_users_and_records_validated_in_chunks_are_named_as_whole(
    policies: PolicySet,
    demo_raw: dict[str, Any],
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Users and records are validated a chunk at a time (answers go on meanwhile): a problem
    is named by its place in the whole list, whichever chunk held it, and the org validated so
    is the one validated whole."""
    monkeypatch.setattr("suite_authz.engine.core.model.VALIDATE_CHUNK", chunk)
    data = changed(demo_raw, "users.3.email", "not-an-email")
    data["records"][4]["type"] = "invoicez"
    data["users"][5]["surprise"] = 1
    paths = [p.split(":")[0] for p in refused(policies, data).problems]
    assert paths == ["records[4].type", "users[3].email", "users[5].surprise"]
    assert load_org(demo_raw, policies.catalogue) == Org.model_validate(demo_raw)
    for bad in ({"users": {}}, [], "x"):
        assert refused(policies, bad).problems  # not lists: refused whole, not crashed


def test_dangling_profile_names_both_ends(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    err = refused(policies, changed(demo_raw, "users.1.profile", "ghost"))
    assert err.problems == (
        "users[1].profile: user `ben` names profile `ghost`, which profiles does not hold",
    )


def test_dangling_role_and_submitter_are_named(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> None:
    data = changed(demo_raw, "users.2.memberships.0.role", "ghost-role")
    data["records"][4]["submitted_by"] = "nobody"
    err = refused(policies, data)
    assert any(
        "users[2].memberships[0].role: user `chen` names role `ghost-role`" in p
        for p in err.problems
    )
    assert any("records[4].submitted_by: invoice `inv-2` names `nobody`" in p for p in err.problems)


def test_role_from_another_product_is_refused(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> None:
    err = refused(policies, changed(demo_raw, "users.2.memberships.0.role", "subscriptions-admin"))
    assert "belongs to Subscriptions, not Books" in err.problems[0]


def test_member_cannot_also_be_integration_user_of_the_same_product(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> None:
    data = copy.deepcopy(demo_raw)
    data["users"][2]["enrolments"] = [{"product": "books"}]
    err = refused(policies, data)
    assert "cannot be enrolled as its integration user" in err.problems[0]


def test_duplicate_ids_are_refused(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    data = copy.deepcopy(demo_raw)
    data["users"].append(copy.deepcopy(data["users"][0]))
    data["records"].append(copy.deepcopy(data["records"][0]))
    err = refused(policies, data)
    assert "users[8].id: `asha` is already users[0]" in err.problems
    assert any(
        p.startswith("records[13].id: estimate `est-1` is already records[0]") for p in err.problems
    )


def test_pending_approval_needs_approval_switched_on(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> None:
    err = refused(policies, changed(demo_raw, "approval", {}))
    assert "approval is not switched on for invoices" in err.problems[0]


def test_grant_on_a_module_outside_the_roles_product_is_refused(
    policies: PolicySet, demo_raw: dict[str, Any]
) -> None:
    data = copy.deepcopy(demo_raw)
    data["roles"][0]["grants"]["subscription"] = ["view"]
    err = refused(policies, data)
    assert err.problems[0].startswith("roles[0].grants.subscription: module `subscription`")


def test_reserved_ids_are_refused(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    for bad in ("", "#integration:books", "line\nbreak"):
        err = refused(policies, changed(demo_raw, "records.0.id", bad))
        assert err.problems[0].startswith("records[0].id:")


def test_not_json_names_file_and_line(policies: PolicySet, tmp_path: Path) -> None:
    bad = tmp_path / "org.json"
    bad.write_text('{"id": "x",\n  oops}')
    err = refused(policies, bad)
    assert str(err).startswith(f"{bad}: not JSON:") and "line 2" in str(err)


def test_missing_file_is_a_clear_error(policies: PolicySet, tmp_path: Path) -> None:
    err = refused(policies, tmp_path / "absent.json")
    assert "cannot read org snapshot" in str(err)


def test_bad_snapshots_from_data_files(policies: PolicySet) -> None:
    for path in sorted((DATA / "bad-orgs").glob("*.json")):
        expected = json.loads(path.read_text())["_expect"]
        data = json.loads(path.read_text())
        del data["_expect"]
        err = refused(policies, data)
        assert expected in err.problems, (path.name, err.problems)


def test_injection_shaped_ids_are_only_ids(policies: PolicySet, demo_raw: dict[str, Any]) -> None:
    # An org may hold odd ids; they reach Cedar as structured JSON and match only themselves.
    data = copy.deepcopy(demo_raw)
    odd = 'x" || true || "'
    data["users"].append({"id": odd, "email": "odd@demo.example", "profile": "sales"})
    data["users"].append(
        {
            "id": 'User::"olivia"',
            "email": "odd2@demo.example",
            "profile": "administrator",
            "crm_admin": True,
        }
    )
    engine = Engine(policies, load_org(data, policies.catalogue))
    for subject in (odd, 'User::"olivia"'):
        for action in ("view", "create", "delete", "approve"):
            assert not engine.decide(Request(subject, action, "invoice", "inv-1")).allowed
