"""Cedar's parsed entities belong to the Cedar backend: an engine on Polar
never builds them, and two Cedar engines over one index (the migration's impact asks the old
model over the served set's index) parse the org once."""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

import cedarpy
import pytest

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.backends import cedar_entities as module
from suite_authz.engine.core.entities import build_index
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.org_changes import apply_changes, parse_change_set
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.migration.run import load_legacy
from tests.conftest import DEMO


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every parse of a whole org into cedarpy.Entities; every engine gets a fresh
    index (none kept for reuse), so that no earlier test's parse is found."""
    monkeypatch.setattr("suite_authz.engine.core.entities.KEEP_USERS_UP_TO", 0)
    seen: list[int] = []
    real = cedarpy.Entities.from_json_str

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(text, *args, **kwargs)

    monkeypatch.setattr(module.cedarpy.Entities, "from_json_str", counting)
    return seen


def fresh_org(policies: PolicySet) -> Any:
    return load_org(DEMO, policies.catalogue)


def test_an_engine_on_polar_builds_no_cedar_entities(
    policies: PolicySet, parses: list[int]
) -> None:
    engine = Engine(policies, fresh_org(policies), "polar")
    assert engine.decide(Request("asha", "view", "estimate", "est-1")).allowed
    assert parses == []


def test_cedar_engines_over_one_index_parse_the_org_once(
    policies: PolicySet, parses: list[int]
) -> None:
    cedar = Engine(policies, fresh_org(policies))
    # the CedarBackend and its obligations share one parse
    assert len(parses) == 1
    legacy = Engine(load_legacy(policies), cedar.org, index=cedar.index)
    assert legacy.policies.schema_text == policies.schema_text
    assert len(parses) == 1
    # sharing the parse changes no answer: the old model on its own index agrees
    alone = Engine(load_legacy(policies), fresh_org(policies))
    for request in (
        Request("asha", "view", "invoice", "inv-1"),
        Request("chen", "edit", "invoice", "inv-1"),
        Request("fay", "send_email", "estimate", "est-2"),
    ):
        assert legacy.decide(request) == alone.decide(request)


def test_the_parse_is_dropped_with_its_index(
    policies: PolicySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept parse does not keep its index alive, and goes when the index goes."""
    monkeypatch.setattr(
        "suite_authz.engine.core.entities.KEEP_USERS_UP_TO", 0
    )  # none kept for reuse
    index = build_index(fresh_org(policies), policies.catalogue)
    handle = module.cedar_entities(index, policies)
    assert module.cedar_entities(index, policies) is handle  # kept while the index lives
    alive = weakref.ref(index)
    del index
    gc.collect()
    assert alive() is None


def test_an_overlay_parses_the_shared_entities_once_not_per_request(
    policies: PolicySet, parses: list[int]
) -> None:
    """After a change to a role (which every request reaches), each request is answered from
    the entities it reaches; the org's shared ones are parsed once for all of them (a parse
    of them costs Cedar about 15 ms, adding a request's users and records to it 0.4 ms)."""
    engine = Engine(policies, fresh_org(policies))
    engine.decide(Request("asha", "view", "estimate", "est-1"))
    change = {"op": "role", "id": "books-clerk", "set": {"grants": {"invoice": ["view"]}}}
    change_set = parse_change_set(json.dumps({"org": "demo", "changes": [change]}))
    changed = engine.changed(apply_changes(engine.org, change_set, policies.catalogue))
    overlay = changed.overlay()
    assert overlay is not None and overlay.everything
    before = len(parses)
    for subject in ("asha", "chen", "dana", "olivia"):
        for rid in ("inv-1", "inv-2"):
            asked = Request(subject, "view", "invoice", rid, channel="direct")
            assert changed.decide(asked) == Engine(policies, changed.org).decide(asked)
    # the fresh engines parse their orgs whole (one each); the overlay parsed its shared once
    assert len(parses) - before == 8 + 1


def test_an_overlay_serves_only_a_set_whose_policies_allow_it(
    policies: PolicySet, parses: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overlay is laid for the schema, and another set of that schema (the old model's)
    finds it: one whose policies name users or records by literal gets the org parsed whole."""
    engine = Engine(policies, fresh_org(policies))
    engine.decide(Request("asha", "view", "estimate", "est-1"))
    change = {"op": "user", "id": "fay", "set": {"memberships": []}}
    change_set = parse_change_set(json.dumps({"org": "demo", "changes": [change]}))
    changed = engine.changed(apply_changes(engine.org, change_set, policies.catalogue))
    assert isinstance(module.cedar_entities(changed.index, policies), module.Overlay)
    monkeypatch.setattr(module, "overlay_refused", lambda p: 'names User::"fay"')
    assert isinstance(module.cedar_entities(changed.index, policies), cedarpy.Entities)
