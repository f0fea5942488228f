"""A change applied to a served engine (engine/core/org_changes.py, `Engine.changed`) answers as
an engine built fresh from the changed org, explanations included.

Two orgs are drawn with the same ids (users u0.., records r0.., roles, profiles); the change
set is a random part of the difference between them (users, records, profiles and roles set
or removed, settings set), applied in one to three successive change sets, so an overlay is
laid over an overlay. The expected org is worked out here, on the JSON, by a second and
simpler reading of what each operation means. Then:
- the change is refused exactly when the expected org does not load (what an incremental
  check skips must be what the change could not break), and a refused change leaves the
  engine as it was;
- the org applied equals the expected one, item order included;
- every request asked (finance records, new records, enrolment, migration; the org's users,
  the removed ones and unknown ones as subjects) gets the same decision from the changed
  engine as from a fresh one, and a list view's query plan is the same plan.
The mutants at the end show the property has teeth.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from suite_authz.engine.core import Engine, InvalidOrg, Request, Unplannable
from suite_authz.engine.core import decide as decide_module
from suite_authz.engine.core import entities as entities_module
from suite_authz.engine.core import org_changes as org_changes_module
from suite_authz.engine.core.backends import cedar_entities
from suite_authz.engine.core.entities import build_index
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.org_changes import SETTINGS, parse_change_set
from suite_authz.engine.core.policies import load_policies
from tests.conftest import GENERATED, POLICIES
from tests.strategies import admin_requests, orgs, record_requests

POLICY_SET = load_policies(POLICIES)
CATALOGUE = POLICY_SET.catalogue

Op = dict[str, Any]
ITEM_OPS = ("user", "remove_user", "record", "remove_record")


def _by_key(items: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    return {tuple(item[k] for k in key): item for item in items}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[Op]:
    """Every operation that turns `a` into `b`."""
    ops: list[Op] = []
    for part, op, key in (
        ("profiles", "profile", ("id",)),
        ("roles", "role", ("id",)),
        ("users", "user", ("id",)),
        ("records", "record", ("type", "id")),
    ):
        before, after = _by_key(a[part], key), _by_key(b[part], key)
        for k, item in after.items():
            if before.get(k) != item:
                fields = {f: v for f, v in item.items() if f not in ("id", "type")}
                ops.append({"op": op, **dict(zip(key, k, strict=True)), "set": fields})
        for k in before.keys() - after.keys():
            ops.append({"op": f"remove_{op}", **dict(zip(key, k, strict=True))})
    settings_ = {k: b[k] for k in SETTINGS if k in b and b.get(k) != a.get(k)}
    if settings_:
        ops.append({"op": "org", "set": settings_})
    return ops


def expected(org: dict[str, Any], ops: list[Op]) -> dict[str, Any]:
    """`org` with `ops` applied, read plainly: a set merges into the item (or appends it), a
    removal drops it; order kept."""
    out = copy.deepcopy(org)
    for op in ops:
        kind = op["op"].removeprefix("remove_")
        part = {"user": "users", "record": "records", "profile": "profiles", "role": "roles"}.get(
            kind
        )
        if part is None:
            out.update(op["set"])
            continue
        key = ("type", "id") if kind == "record" else ("id",)
        items = out.setdefault(part, [])
        at = next(
            (n for n, item in enumerate(items) if all(item.get(k) == op[k] for k in key)), None
        )
        if op["op"].startswith("remove_"):
            if at is not None:
                del items[at]
        elif at is None:
            items.append({**{k: op[k] for k in key}, **op["set"]})
        else:
            items[at] = {**items[at], **op["set"]}
    return out


def requests_for(org: dict[str, Any], subjects: list[str], data: st.DataObject) -> list[Request]:
    asked = [
        Request(data.draw(st.sampled_from(subjects)), action, kind)
        for action, kind in (("create", "invoice"), ("create", "subscription"))
    ]
    if org["records"]:  # a change may remove every record
        asked += [
            Request(**data.draw(record_requests(org, data.draw(st.sampled_from(subjects)))))
            for _ in range(6)
        ]
        for action in ("view", "approve", "edit", "send_email"):
            rec = data.draw(st.sampled_from(org["records"]))
            asked.append(
                Request(data.draw(st.sampled_from(subjects)), action, rec["type"], rec["id"])
            )
    asked += data.draw(admin_requests(subjects, 3))
    return asked


def check_changes(a: dict[str, Any], b: dict[str, Any], data: st.DataObject) -> None:
    # half the time users and records alone: no shared entity changes, so requests are told
    # apart by what they reach (otherwise every request is answered from its reach)
    items_only = data.draw(st.booleans())
    ops = [
        op
        for op in differences(a, b)
        if not (items_only and op["op"] not in ITEM_OPS) and data.draw(st.booleans())
    ]
    if not ops:
        return
    cuts = (
        sorted(data.draw(st.sets(st.integers(1, len(ops) - 1), max_size=2))) if len(ops) > 1 else []
    )
    batches = [ops[i:j] for i, j in zip([0, *cuts], [*cuts, len(ops)], strict=True)]
    class_cache = data.draw(st.sampled_from((0, 64)))
    engine = Engine(POLICY_SET, load_org(a, CATALOGUE), class_cache=class_cache)
    engine.decide(Request("owner", "view", "invoice"))  # Cedar's entities parsed, as a server's
    now = a
    for batch in batches:
        want = expected(now, batch)
        text = parse_change_set_json({"org": "gen", "changes": batch})
        try:
            wanted_org = load_org(want, CATALOGUE)
        except InvalidOrg:
            with pytest.raises(InvalidOrg):
                org_changes_module.apply_changes(engine.org, text, CATALOGUE)
            GENERATED["org change refused as a fresh load refuses it"] += 1
            break
        applied = org_changes_module.apply_changes(engine.org, text, CATALOGUE)
        assert applied.org == wanted_org
        engine = engine.changed(applied)
        whole = build_index(wanted_org, CATALOGUE)  # what every backend looks ids up in
        for part in ("users", "seats", "records", "hidden", "readonly"):
            assert getattr(engine.index, part) == getattr(whole, part), part
        now = want
        GENERATED["org change applied"] += 1
        if engine.overlay() is not None:
            GENERATED["org change answered over an overlay"] += 1
    fresh = Engine(POLICY_SET, load_org(now, CATALOGUE))
    subjects = sorted({u["id"] for u in (*a["users"], *b["users"])} | {"nobody"})
    for request in requests_for(now, subjects, data):
        explain = data.draw(st.booleans())
        got, want_ = engine.decide(request, probe=explain), fresh.decide(request, probe=explain)
        assert got == want_, (request, got, want_)
    for _ in range(2):  # a list view's plan: Cedar asked with the record unknown
        asked = Request(
            data.draw(st.sampled_from(subjects)),
            data.draw(st.sampled_from(("view", "approve", "edit"))),
            data.draw(st.sampled_from(("invoice", "estimate", "report"))),
        )
        assert plan_or_why(engine, asked) == plan_or_why(fresh, asked), asked


def plan_or_why(engine: Engine, request: Request) -> object:
    try:
        return engine.plan(request)
    except Unplannable as exc:
        return ("unplannable", str(exc))


def parse_change_set_json(data: dict[str, Any]) -> Any:
    return parse_change_set(json.dumps(data))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(orgs(min_users=2, max_users=4), orgs(min_users=2, max_users=4), st.data())
def test_a_changed_engine_answers_as_a_fresh_one(
    a: dict[str, Any], b: dict[str, Any], data: st.DataObject
) -> None:
    check_changes(a, b, data)


def test_the_shipped_policies_allow_an_overlay() -> None:
    assert cedar_entities.overlay_refused(POLICY_SET) is None


def _stale_base(self: Any, payload: dict[str, Any]) -> bool:
    return False  # every request answered from the parse before the change


def _all_from_base(self: Any, payloads: Any) -> Any:
    return self.base


def _seats_kept(index: Any, after: Any, users: Any, records: Any) -> Any:
    return real_changed_index(index, after, {}, records)  # users' seats as they were


def _submitters_unchecked(*args: Any) -> None:
    return None  # removed users, and users and records set, not checked again


def _not_shared(org: Any, change_set: Any, catalogue: Any) -> Any:
    import dataclasses

    applied = real_apply_changes(org, change_set, catalogue)
    return dataclasses.replace(applied, shared=False)  # the org entity's count not seen


real_changed_index = entities_module.changed_index
real_apply_changes = org_changes_module.apply_changes

MUTANTS = {
    "a dirty entity answered from the base": [
        (cedar_entities.Overlay, "touches", _stale_base),
        (cedar_entities.Overlay, "for_payloads", _all_from_base),
    ],
    "seats not indexed again": [(decide_module, "changed_index", _seats_kept)],
    "touched items not checked": [(org_changes_module, "_check_touched", _submitters_unchecked)],
    "a shared change taken for items alone": [(org_changes_module, "apply_changes", _not_shared)],
}


@pytest.mark.parametrize("name", MUTANTS)
def test_a_mutant_fails_the_property(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for target, attr, value in MUTANTS[name]:
        monkeypatch.setattr(target, attr, value)

    @settings(
        max_examples=200,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=(Phase.generate,),
    )
    @given(orgs(min_users=2, max_users=4), orgs(min_users=2, max_users=4), st.data())
    def mutated(a: dict[str, Any], b: dict[str, Any], data: st.DataObject) -> None:
        check_changes(a, b, data)

    with pytest.raises((AssertionError, pytest.fail.Exception)):
        mutated()
