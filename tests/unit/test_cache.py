"""The decision cache: the same decision as without it, bounded, never across a reload."""

from __future__ import annotations

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.cache import DecisionCache
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from tests.conftest import DEMO

ASKS = [
    Request("asha", "create", "estimate"),
    Request("asha", "delete", "estimate", "est-1"),
    Request("chen", "view", "item", "item-1"),
    Request("fay", "send_email", "estimate", "est-2", context={"sender": "x@y.example"}),
    Request("nobody", "view", "item"),
    Request("asha", "fly", "estimate"),
]


def test_cached_decisions_are_the_decisions(policies: PolicySet) -> None:
    org = load_org(DEMO, policies.catalogue)
    plain, cached = Engine(policies, org), Engine(policies, org, cache_size=100)
    for probe in (True, False):
        for _ in range(3):
            for ask in ASKS:
                assert cached.decide(ask, probe=probe) == plain.decide(ask, probe=probe)
        assert cached.decide_many(ASKS, probe=probe) == plain.decide_many(ASKS, probe=probe)
    assert cached.cache is not None and cached.cache.hits > cached.cache.misses > 0


def test_the_key_tells_apart_everything_a_decision_depends_on() -> None:
    base = Request("asha", "edit", "invoice", "inv-1", "crm", ("discount",), {"sender": "a"})
    variants = [
        base,
        Request("ben", "edit", "invoice", "inv-1", "crm", ("discount",), {"sender": "a"}),
        Request("asha", "view", "invoice", "inv-1", "crm", ("discount",), {"sender": "a"}),
        Request("asha", "edit", "estimate", "inv-1", "crm", ("discount",), {"sender": "a"}),
        Request("asha", "edit", "invoice", "inv-2", "crm", ("discount",), {"sender": "a"}),
        Request("asha", "edit", "invoice", None, "crm", ("discount",), {"sender": "a"}),
        Request("asha", "edit", "invoice", "inv-1", "direct", ("discount",), {"sender": "a"}),
        Request("asha", "edit", "invoice", "inv-1", "crm", (), {"sender": "a"}),
        Request("asha", "edit", "invoice", "inv-1", "crm", ("discount",), {"sender": "b"}),
        Request("asha", "edit", "invoice", "inv-1", "crm", ("discount",), {}),
    ]
    keys = {DecisionCache.key(v, True) for v in variants}
    assert len(keys) == len(variants)
    assert DecisionCache.key(base, True) != DecisionCache.key(base, False)
    assert DecisionCache.key(Request("a", "view", "item", context={"x": ["list"]}), True) is None


def test_the_cache_is_bounded_and_keeps_the_recent(policies: PolicySet) -> None:
    engine = Engine(policies, load_org(DEMO, policies.catalogue), cache_size=2)
    cache = engine.cache
    assert cache is not None
    for ask in ASKS[:3]:
        engine.decide(ask)
    assert len(cache) == 2
    engine.decide(ASKS[2])
    assert cache.hits == 1
    engine.decide(ASKS[0])  # evicted first, asked again
    assert cache.hits == 1 and len(cache) == 2


def test_a_backend_failure_is_not_kept(policies: PolicySet) -> None:
    engine = Engine(policies, load_org(DEMO, policies.catalogue), cache_size=10)
    real = engine.backend.answer

    def down(request: Request) -> None:
        raise RuntimeError("down")

    engine.backend.answer = down  # type: ignore[method-assign,assignment]
    failed = engine.decide(ASKS[0])
    assert not failed.allowed and failed.errors
    engine.backend.answer = real  # type: ignore[method-assign]
    assert engine.decide(ASKS[0]).allowed  # asked again, not answered from the cache


def test_a_cache_needs_room() -> None:
    import pytest

    with pytest.raises(ValueError, match="at least one"):
        DecisionCache(0)


# `1 == 1.0 == True` hash alike, so a cache keyed on them could answer one for another; only the
# integer is a valid count.
MIGRATION = Request("olivia", "run_migration", "org", "demo")


def _counted(value: object) -> Request:
    return Request("olivia", "run_migration", "org", "demo", context={"enrolments": value})


def test_a_cached_allow_never_answers_an_invalid_request_of_an_equal_value(
    policies: PolicySet,
) -> None:
    engine = Engine(policies, load_org(DEMO, policies.catalogue), cache_size=100)
    assert engine.decide(_counted(1)).allowed
    for value in (True, 1.0, "1"):
        decision = engine.decide(_counted(value))
        assert not decision.allowed and decision.invalid, value
    assert engine.decide(_counted(0)).allowed
    for value in (False, 0.0, -0.0):
        assert engine.decide(_counted(value)).invalid, value


def test_a_cached_refusal_never_answers_a_valid_request_of_an_equal_value(
    policies: PolicySet,
) -> None:
    engine = Engine(policies, load_org(DEMO, policies.catalogue), cache_size=100)
    for value in (True, 1.0):
        assert engine.decide(_counted(value)).invalid
    assert engine.decide(_counted(1)).allowed
    batch = engine.decide_many([_counted(1), _counted(True), _counted(1.0), _counted(1)])
    assert [d.allowed for d in batch] == [True, False, False, True]


def test_keys_of_equal_values_of_other_types_differ() -> None:
    keys = {DecisionCache.key(_counted(v), True) for v in (1, 1.0, True, "1")}
    assert len(keys) == 4
    assert DecisionCache.key(_counted((1,)), True) is None  # not a plain scalar: not cached
