"""A resource search answered from the query plan returns what the record-by-record enumeration
returned before it: the same records, page by page, with the same cursors and the same
decisions (logged per result), on the demo org and on generated orgs, for several users,
actions, channels, fields and contexts, and page sizes that split the records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.genorg import generate
from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core.backends.cedar import CedarBackend
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet, load_policies
from suite_authz.engine.serving.search import SearchPage, search_page
from tests.conftest import DEMO, POLICIES
from tests.property.test_plan import with_policy
from tests.strategies import orgs, record_requests

POLICY_SET = load_policies(POLICIES)


def pages(engine: Engine, template: Request, limit: int, planned: bool) -> list[SearchPage]:
    out: list[SearchPage] = []
    start: int | None = 0
    while start is not None:
        page = search_page(engine, "resource", template, start, limit, planned=planned)
        out.append(page)
        start = page.cursor
        assert len(out) < 10_000
    return out


def shown(page: SearchPage) -> tuple[Any, ...]:
    found = tuple((f.id, f.request, f.decision) for f in page.found)
    return (found, page.cursor)


def differences(
    engine: Engine, template: Request, limits: tuple[int, ...], other: Engine | None = None
) -> list[str]:
    """Where the planned pages of `engine` and the enumerated pages (of `other`, or the same
    engine) differ in records, requests, decisions or cursors."""
    out = []
    for limit in limits:
        planned = pages(engine, template, limit, True)
        enumerated = pages(other or engine, template, limit, False)
        assert all(p.unplanned is None for p in planned)
        if [shown(p) for p in planned] != [shown(p) for p in enumerated]:
            out.append(f"{template} limit {limit}")
    return out


def test_the_planned_search_pages_as_the_enumeration_on_the_demo_org() -> None:
    engine = Engine.load(DEMO)
    kinds = sorted({r.type for r in engine.org.records})
    found: list[str] = []
    admitted = 0
    for user in [*engine.org.users, None]:
        subject = user.id if user is not None else "nobody"
        for action in sorted(RECORD_ACTIONS):
            for kind in kinds:
                template = Request(subject, action, kind)
                found += differences(engine, template, (1, 2, 100))
                admitted += sum(len(p.found) for p in pages(engine, template, 100, True))
    assert found == []
    assert admitted > 20  # the comparison saw records found, not only empty pages


@given(orgs(), st.data())
def test_the_planned_search_pages_as_the_enumeration_on_generated_orgs(
    org: dict[str, Any], data: st.DataObject
) -> None:
    """The planned pages come from an engine with the class cache on (its records decided once
    per class), the enumeration's from one without: every result's decision is the same."""
    plain = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue), "cedar")
    classed = Engine(POLICY_SET, plain.org, "cedar", index=plain.index, class_cache=4096)
    users = [u["id"] for u in org["users"]]
    for _ in range(4):
        drawn = data.draw(record_requests(org, data.draw(st.sampled_from(users))))
        template = Request(**{**drawn, "resource_id": None})
        assert differences(classed, template, (1, 3, 100), plain) == []
    subject, kind = data.draw(st.sampled_from(users)), org["records"][0]["type"]
    for action in sorted(RECORD_ACTIONS):
        assert differences(classed, Request(subject, action, kind), (1, 100), plain) == []


def many_classes(policies: PolicySet = POLICY_SET) -> tuple[Engine, Engine]:
    """An org whose records and users fall into classes, with and without the class cache."""
    plain = Engine(policies, load_org(generate(30, 600), policies.catalogue))
    return Engine(policies, plain.org, index=plain.index, class_cache=4096), plain


def every_difference(classed: Engine, plain: Engine) -> list[str]:
    return [
        line
        for user in classed.org.users
        for action in sorted(RECORD_ACTIONS)
        for line in differences(classed, Request(user.id, action, "invoice"), (500,), plain)
    ]


# a second grant for drafts: a draft's view names two policies, another record's one
DRAFTS_TOO = """
@id("members-view-drafts")
@rule("D4")
@reason("a Books member may view drafts")
permit (principal, action == Action::"view", resource)
when { resource.status == "draft" && principal has books && principal.books.member };
"""


def test_records_of_one_class_are_decided_once_and_each_logged_with_its_own_decision(
    tmp_path: Path,
) -> None:
    classed, plain = many_classes()
    assert every_difference(classed, plain) == []
    cache = classed.class_cache()
    assert cache.on and cache.misses < 1000  # records asked once per class, not one by one
    assert every_difference(*many_classes(load_policies(with_policy(tmp_path, DRAFTS_TOO)))) == []


def test_the_check_fails_on_classes_that_lump_records_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records whose decisions differ (a draft's names one more policy) put in one class: the
    comparison says which pages differ."""
    monkeypatch.setattr(CedarBackend, "record_classes", lambda self, template: lambda rid: 0)
    policies = load_policies(with_policy(tmp_path, DRAFTS_TOO))
    assert every_difference(*many_classes(policies)) != []


def test_an_unplannable_backend_falls_back_to_the_enumeration_and_says_why() -> None:
    cedar = Engine.load(DEMO)
    polar = Engine(cedar.policies, cedar.org, "polar", index=cedar.index)
    page = search_page(polar, "resource", Request("asha", "view", "invoice"), 0, 100)
    assert page.unplanned is not None and "polar" in page.unplanned
    planned = search_page(cedar, "resource", Request("asha", "view", "invoice"), 0, 100)
    assert [f.id for f in page.found] == [f.id for f in planned.found]
    assert planned.unplanned is None


def test_a_planned_page_is_whole_where_an_enumerated_one_is_cut_at_its_deadline() -> None:
    """The plan is evaluated over every record at once: its page needs no deadline. The
    enumeration, asking record by record, stops at the deadline and goes on from its cursor."""
    engine = Engine(POLICY_SET, load_org(generate(10, 2000), POLICY_SET.catalogue))
    template = Request("user-0", "view", "invoice")  # an admin: every invoice, 200 or so
    whole = [f.id for p in pages(engine, template, 1000, True) for f in p.found]
    assert len(whole) > 100
    ticks = iter(range(1_000_000))
    clock = lambda: float(next(ticks))  # noqa: E731
    planned = search_page(engine, "resource", template, 0, 1000, 0.0, clock)
    assert [f.id for f in planned.found] == whole and planned.cursor is None
    cut = search_page(engine, "resource", template, 0, 1000, 0.0, clock, planned=False)
    assert cut.cursor is not None and len(cut.found) < len(whole)
    assert [f.id for f in cut.found] + pages_from(engine, template, cut.cursor) == whole


def pages_from(engine: Engine, template: Request, start: int) -> list[str]:
    page = search_page(engine, "resource", template, start, 100)
    more = [] if page.cursor is None else pages_from(engine, template, page.cursor)
    return [f.id for f in page.found] + more
