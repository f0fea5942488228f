"""A query plan admits exactly the records the engine allows one by one, on generated orgs, as
Cedar decides and as Polar (the second encoding, which plans nothing) decides. A plan that
admits one record the engine would deny, or misses one it would allow, fails here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.genorg import generate
from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core import plan as planner
from suite_authz.engine.core.entities import EntityLookup
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.plan import _Folder, record_attrs
from suite_authz.engine.core.policies import PolicySet, load_policies
from tests.conftest import DEMO, GENERATED, POLICIES
from tests.strategies import orgs, record_requests

POLICY_SET = load_policies(POLICIES)


def mismatches(cedar: Engine, polar: Engine | None, template: Request) -> list[str]:
    """Each record of the template's type on which the plan and a backend's decision differ."""
    plan = cedar.plan(template)
    lookup = EntityLookup(cedar.index)
    entity_type = cedar.policies.catalogue.modules[template.resource_type].entity
    found = []
    for record in cedar.org.records:
        if record.type != template.resource_type:
            continue
        entity = lookup(entity_type, record.id)
        assert entity is not None
        admitted = plan.admits(record_attrs(entity))
        asked = Request(
            template.subject, template.action, record.type, record.id, template.channel,
            template.fields, template.context,
        )  # fmt: skip
        for engine in (cedar, polar) if polar is not None else (cedar,):
            decision = engine.decide(asked, probe=False)
            if decision.allowed != admitted:
                found.append(
                    f"{engine.backend.name}: {asked} allowed={decision.allowed}, "
                    f"plan {plan.to_dict()}"
                )
            elif decision.allowed and decision.redact_fields != plan.redact_fields:
                found.append(
                    f"{engine.backend.name}: {asked} redacts {decision.redact_fields}, "
                    f"plan {plan.redact_fields}"
                )
    return found


@given(orgs(), st.data())
def test_a_plan_admits_what_both_backends_allow(org: dict[str, Any], data: st.DataObject) -> None:
    GENERATED["plans"] += 1
    cedar = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue), "cedar")
    polar = Engine(POLICY_SET, cedar.org, "polar", index=cedar.index)
    users = [u["id"] for u in org["users"]]
    templates = [Request(**data.draw(record_requests(org, data.draw(st.sampled_from(users)))))]
    templates += [
        Request(**data.draw(record_requests(org, data.draw(st.sampled_from(users)))))
        for _ in range(3)
    ]
    # and every record action of one user on the first record's type, from the CRM
    subject, kind = data.draw(st.sampled_from(users)), org["records"][0]["type"]
    templates += [Request(subject, action, kind) for action in sorted(RECORD_ACTIONS)]
    for template in templates:
        assert mismatches(cedar, polar, template) == []


def test_every_plan_on_the_demo_org_matches_every_decision() -> None:
    engine = Engine.load(DEMO)
    kinds = sorted({r.type for r in engine.org.records})
    found = []
    for user in engine.org.users:
        for action in sorted(RECORD_ACTIONS):
            for kind in kinds:
                found += mismatches(engine, None, Request(user.id, action, kind))
    assert found == []


def test_the_check_fails_on_a_planner_that_drops_a_negation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comparison can fail: a planner that reads `!=` as `==` admits records the engine
    denies (edits of records pending approval, D8), and the check says which."""
    monkeypatch.setattr(
        _Folder,
        "_op_ne",
        lambda self, arg: self._truth(self._equal(self.fold(arg["left"]), self.fold(arg["right"]))),
    )
    monkeypatch.setattr(_Folder, "_op_not", lambda self, arg: self._truth(self.fold(arg["arg"])))
    engine = Engine.load(DEMO)
    found = mismatches(engine, None, Request("asha", "edit", "invoice"))
    assert found and all("allowed=" in line for line in found)


def test_a_user_the_org_does_not_have_is_never_admitted_and_told_why() -> None:
    plan = Engine.load(DEMO).plan(Request("nobody", "view", "invoice"))
    assert plan.kind == "never"
    assert plan.denied is not None and "unknown subject `nobody`" in plan.denied.reasons[0]


def test_a_plan_is_kept_per_question() -> None:
    """A list view asks again for each page: the engine answers from its plans, keyed by every
    part of the question (the same subject with another claim is another question)."""
    engine = Engine.load(DEMO)
    first = engine.plan(Request("dana", "approve", "invoice"))
    assert engine.plan(Request("dana", "approve", "invoice")) is first
    claimed = engine.plan(Request("dana", "approve", "invoice", context={"acting_as": "asha"}))
    assert claimed is not first
    assert engine.plan(Request("dana", "approve", "invoice", channel="direct")) is not first


def shared_mismatches(engine: Engine, questions: list[Request]) -> list[str]:
    """Each question on which `engine` (class cache on: users of one class share a fold) and
    an engine that plans every user afresh give different plans."""
    fresh = Engine(engine.policies, engine.org, index=engine.index)
    found = []
    for question in questions:
        shared, own = engine.plan(question), fresh.plan(question)
        if (shared.condition, shared.redact_fields) != (own.condition, own.redact_fields):
            found.append(f"{question}: shared {shared.to_dict()}, own {own.to_dict()}")
    return found


def every_question(
    engine: Engine, kinds: tuple[str, ...] = ("estimate", "invoice")
) -> list[Request]:
    return [
        Request(user.id, action, kind)
        for user in engine.org.users
        for action in sorted(RECORD_ACTIONS)
        for kind in kinds
    ]


def generated_engine(policies: PolicySet = POLICY_SET) -> Engine:
    """An org whose users fall into classes (the demo org's eight users are eight classes)."""
    return Engine(policies, load_org(generate(40, 200), policies.catalogue), class_cache=4096)


@settings(max_examples=max(1, settings.default.max_examples // 3))  # every question of an org
@given(orgs())
def test_a_plan_shared_within_a_class_is_the_users_own(org: dict[str, Any]) -> None:
    GENERATED["shared plans"] += 1
    engine = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue), class_cache=4096)
    kinds = (org["records"][0]["type"],)
    assert shared_mismatches(engine, every_question(engine, kinds)) == []


def test_users_of_one_class_share_a_plan_and_each_gets_their_own() -> None:
    engine = generated_engine()
    assert shared_mismatches(engine, every_question(engine)) == []
    assert engine.plan_classes.shared > len(engine.org.users)  # the check saw shared plans


def test_the_check_fails_on_a_share_that_keeps_the_other_users_identities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan that says `submitted_by = <the user it was folded for>` to everyone of the class
    is caught: `edit` of one's own drafts names the user."""
    real = planner.finished
    monkeypatch.setattr(planner, "finished", lambda condition, swap: real(condition, {}))
    found = shared_mismatches(generated_engine(), every_question(generated_engine()))
    assert found and all("submitted_by" in line for line in found)


def with_policy(tmp_path: Path, text: str) -> Path:
    into = tmp_path / "policies"
    shutil.copytree(POLICIES, into)
    (into / "zz_extra.cedar").write_text(text)
    return into


TITLED_WITH_MY_ADDRESS = """
@id("title-hides-from-the-addressee")
@rule("D4")
@reason("a record titled with the viewer's own address is kept from them")
forbid (principal, action == Action::"view", resource)
when { resource has title && resource.title == principal.email };
"""


@pytest.mark.parametrize("guarded", [True, False])
def test_a_plan_naming_a_users_address_is_not_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guarded: bool
) -> None:
    """A swap exchanges typed entity references, never strings: a plan whose residuals name a
    string the class key renames is that user's alone. Here the key is made to rename the
    address though a record is compared with it (the class key reads it as a value, so the
    guard is the second line): guarded, every plan is the user's own; without the guard
    (`_mentions`), users of a class share one address and the check says so."""
    if not guarded:
        monkeypatch.setattr(planner, "_mentions", lambda residuals, values: False)
    engine = generated_engine(load_policies(with_policy(tmp_path, TITLED_WITH_MY_ADDRESS)))
    keys = engine.backend.evaluator.keys
    keys._opaque["principal"] = keys._opaque["principal"] | {("email",)}
    questions = [Request(u.id, "view", "invoice") for u in engine.org.users]
    found = shared_mismatches(engine, questions)
    if guarded:
        assert found == []
        # every user who may view records at all is kept from those titled with their address
        assert sum("title" in engine.plan(q).in_words() for q in questions) > 10
    else:
        assert found and all("title" in line for line in found)


def test_a_share_tells_apart_roles_granting_other_modules(tmp_path: Path) -> None:
    """Where no policy names a module literally, a role's granted modules are identities the
    class key renames: the key must still tell a role granting `invoice` from one granting
    `estimate` when the question is about invoices (the record's type fixes its module). Found
    by an outside review: a user whose role grants estimates was handed the plan of a user
    whose role grants invoices, admitting every invoice."""
    literal = """[Module::"estimate",
   Module::"sales_order",
   Module::"invoice",
   Module::"purchase_order"].contains
    (
      resource.module
    )"""
    into = tmp_path / "policies"
    shutil.copytree(POLICIES, into)
    source = (into / "integration_users.cedar").read_text()
    assert literal in source
    (into / "integration_users.cedar").write_text(
        source.replace(
            literal,
            "(resource is Estimate || resource is SalesOrder || resource is Invoice || "
            "resource is PurchaseOrder)",
        )
    )
    org = json.loads(DEMO.read_text())
    org["roles"] = [
        {"id": "r-est", "product": "books", "name": "E", "grants": {"estimate": ["view"]}},
        {"id": "r-inv", "product": "books", "name": "I", "grants": {"invoice": ["view"]}},
    ]
    org["profiles"] = [
        {"id": "p-inv", "name": "PI", "allows": {"invoice": ["view"]}},
        {"id": "p-est", "name": "PE", "allows": {"estimate": ["view"]}},
        {"id": "administrator", "name": "Admin", "allows": {"invoice": ["*"]}},
    ]
    books = [("u-inv", "inv"), ("u-est", "est"), ("u-inv2", "inv"), ("u-est2", "est")]
    admin = {"id": "olivia", "name": "O", "email": "o@x.example", "profile": "administrator"}
    org["users"] = [
        {"id": u, "name": u, "email": f"{u}@x.example", "profile": f"p-{kind}",
         "memberships": [{"product": "books", "role": f"r-{kind}"}]}
        for u, kind in books
    ] + [admin]  # fmt: skip
    org["records"] = [
        {"id": "inv-1", "type": "invoice", "status": "approved"},
        {"id": "est-1", "type": "estimate", "status": "draft"},
    ]
    org.pop("integration_owner", None)
    policies = load_policies(into)
    engine = Engine(policies, load_org(org, policies.catalogue), class_cache=4096)
    questions = [Request(u, "view", kind) for u, _ in books for kind in ("invoice", "estimate")]
    assert shared_mismatches(engine, questions) == []
    assert engine.plan_classes.shared > 0  # the second user of each role shares
