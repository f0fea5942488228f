"""The class key (engine/core/backends/cedar_reads.py, cedar_classes.py) and the policy slices
(cedar_slices.py): what they read, what they refuse, and that each read matters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.backends.cedar_classes import ClassKeys
from suite_authz.engine.core.backends.cedar_reads import Unaccounted, derive
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from tests.conftest import DEMO, POLICIES
from tests.property.test_class_cache import MUTATIONS, with_twins

POLICY_SET = load_policies(POLICIES)
TWINNED = with_twins(json.loads(DEMO.read_text()))


def engine(policies: PolicySet = POLICY_SET, org: dict[str, Any] = TWINNED, **kw: Any) -> Engine:
    return Engine(policies, load_org(org, policies.catalogue), **kw)


def reads_of(policies: PolicySet) -> Any:
    return derive([*policies.deciding.items(), *policies.obligations.items()])


def test_the_shipped_set_reads_what_docs_rules_says_it_does() -> None:
    reads = reads_of(POLICY_SET)
    for chain in [
        ("principal", "crm_admin"),
        ("principal", "books", "member"),
        ("principal", "profile", "allows"),
        ("principal", "<in>"),
        ("resource", "status"),
        ("resource", "submitted_by"),
        ("resource", "module", "approval_by"),
        ("context", "channel"),
        ("context", "fields"),
        ("context", "acting_as"),
    ]:
        assert chain in reads.chains, chain
    # compared only with each other: whether a mail's sender is the user's own address
    assert reads.opaque == {("context", "sender"), ("principal", "email")}
    # entities named in literals keep their ids; users and records are renamed
    assert reads.literal_types == {"Action", "Module", "Product"}


# (mutation, the request asked first, its neighbour): a key that forgets the attribute puts
# both in one class, and the neighbour gets the first one's answer.
PAIRS = {
    "resource.status": (
        Request("fay", "send_email", "estimate", "est-2"),
        Request("fay", "send_email", "estimate", "est-2~status"),
    ),
    "principal.crm_admin": (
        Request("olivia", "enrol_integration_user", "user", "ben", context={"product": "books"}),
        Request(
            "olivia~admin", "enrol_integration_user", "user", "ben", context={"product": "books"}
        ),
    ),
    "context.channel": (
        Request("asha", "view", "estimate", "est-1"),
        Request("asha", "view", "estimate", "est-1", channel="direct"),
    ),
    "which identities are the same": (
        Request("fay", "send_email", "estimate", "est-2", context={"sender": "fay@demo.example"}),
        Request("fay", "send_email", "estimate", "est-2", context={"sender": "ben@demo.example"}),
    ),
}


@pytest.mark.parametrize("name", PAIRS)
def test_each_attribute_read_separates_two_neighbours(name: str) -> None:
    first, neighbour = PAIRS[name]
    fresh = engine()
    assert fresh.decide(first).allowed != fresh.decide(neighbour).allowed
    cedar = fresh.backend.cedar_request  # type: ignore[attr-defined]
    keys = ClassKeys(reads_of(POLICY_SET), EntityLookup(fresh.index))
    assert keys.key(cedar(first)) != keys.key(cedar(neighbour))
    # the mutated key puts them in one class, and answers the neighbour wrongly
    mutated = MUTATIONS[name](keys.reads, EntityLookup(fresh.index))
    assert mutated.key(cedar(first)) == mutated.key(cedar(neighbour))
    cached = engine(class_cache=100)
    cached.backend.evaluator.keys = mutated  # type: ignore[attr-defined]
    cached.decide(first)
    assert cached.decide(neighbour) != fresh.decide(neighbour)


def test_users_and_records_alike_share_a_class() -> None:
    fresh = engine()
    keys = ClassKeys(reads_of(POLICY_SET), EntityLookup(fresh.index))
    cedar = fresh.backend.cedar_request  # type: ignore[attr-defined]
    # two sales users enrolled in Books, each viewing a draft estimate of their own org
    org = json.loads(DEMO.read_text())
    org["users"].append({**org["users"][0], "id": "asha2", "email": "asha2@demo.example"})
    org["records"].append({"id": "est-9", "type": "estimate", "status": "draft"})
    again = engine(org=org)
    keys = ClassKeys(reads_of(POLICY_SET), EntityLookup(again.index))
    cedar = again.backend.cedar_request  # type: ignore[attr-defined]
    assert keys.key(cedar(Request("asha", "view", "estimate", "est-1"))) == keys.key(
        cedar(Request("asha2", "view", "estimate", "est-9"))
    )
    # acting as oneself is one class whoever one is; as another user, another class
    own = keys.key(
        cedar(Request("asha", "view", "estimate", "est-1", context={"acting_as": "asha"}))
    )
    own2 = keys.key(
        cedar(Request("asha2", "view", "estimate", "est-1", context={"acting_as": "asha2"}))
    )
    other = keys.key(
        cedar(Request("asha2", "view", "estimate", "est-1", context={"acting_as": "asha"}))
    )
    assert own == own2 != other


def edited_set(tmp_path: Path, policy: str) -> PolicySet:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy, ignore=shutil.ignore_patterns("examples", "history", "tests"))
    (copy / "extra.cedar").write_text(policy)
    return load_policies(copy)


EMAIL_RULE = """@id("contractors-no-delete")
@rule("D3")
@reason("contractors never delete")
@missing("an employee's address")
forbid (principal, action == Action::"delete", resource)
when { principal.email like "*@contractors.example" };
"""


def test_a_policy_that_reads_a_new_attribute_changes_the_key(tmp_path: Path) -> None:
    edited = edited_set(tmp_path, EMAIL_RULE)
    assert ("principal", "email") not in reads_of(edited).opaque  # now read by value
    org = json.loads(DEMO.read_text())
    org["users"].append({**org["users"][7], "id": "liv2", "email": "liv@contractors.example"})
    before, after = engine(org=org), engine(edited, org)
    employee, contractor = (Request(u, "delete", "estimate", "est-1") for u in ("olivia", "liv2"))
    for built, differ in ((before, False), (after, True)):
        keys = ClassKeys(reads_of(built.policies), EntityLookup(built.index))
        cedar = built.backend.cedar_request  # type: ignore[attr-defined]
        assert (keys.key(cedar(employee)) != keys.key(cedar(contractor))) is differ
    cached = engine(edited, org, class_cache=10)
    assert cached.decide(employee).allowed
    assert not cached.decide(contractor).allowed  # not the employee's class: the new rule denies


COMPUTED = """@id("computed-chain")
@rule("D3")
@reason("an attribute of a computed value")
@missing("nothing")
forbid (principal, action == Action::"void", resource)
when { (if context.channel == "crm" then principal else principal).crm_admin };
"""


def test_a_policy_shape_it_cannot_read_turns_class_caching_off_and_says_why(
    tmp_path: Path,
) -> None:
    edited = edited_set(tmp_path, COMPUTED)
    with pytest.raises(Unaccounted, match="computed-chain"):
        reads_of(edited)
    cached = engine(edited, class_cache=100)
    status = cached.class_cache()
    assert not status.on
    assert "computed-chain" in status.reason and "computed value" in status.reason
    fresh = engine(edited)
    for request in PAIRS["resource.status"]:
        assert cached.decide(request) == fresh.decide(request)


def test_the_polar_backend_says_it_has_no_class_cache() -> None:
    status = engine(backend="polar", class_cache=100).class_cache()
    assert not status.on and "polar" in status.reason


def test_each_slice_keeps_only_the_policies_whose_scope_can_match() -> None:
    slices = engine().backend.evaluator.slices  # type: ignore[attr-defined]
    assert slices.problem is None
    assert "of the 28 deciding policies" in engine(class_cache=10).class_cache().reason
    deciding = {pair: s.ids for (kind, pair), s in slices.by_pair.items() if kind == "deciding"}
    view_estimate = deciding[("view", "Estimate")]
    assert "approve-pending-only" not in view_estimate  # an approve-only forbid
    assert "subscriptions-integration-records" not in view_estimate  # `resource is Subscription`
    assert {"no-finance-identity", "crm-profile-gate", "own-identity-only"} <= view_estimate
    assert deciding[("run_migration", "Org")] >= {"migration-limit", "crm-admin-enrols"}
    assert all(len(ids) < len(POLICY_SET.deciding) for ids in deciding.values())
    # the determining policies are the same as the whole set's
    sliced, whole = engine(), engine()
    whole.backend.evaluator.slices = type(slices)({}, slices.whole)  # type: ignore[attr-defined]
    for request in [*PAIRS["resource.status"], *PAIRS["principal.crm_admin"]]:
        assert sliced.decide(request) == whole.decide(request)
