"""A resource search answered from the query plan returns what the record-by-record enumeration
returned before it: the same records, page by page, with the same cursors and the same
decisions (logged per result), on the demo org and on generated orgs, for several users,
actions, channels, fields and contexts, and page sizes that split the records."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from suite_authz.engine.core import RECORD_ACTIONS, Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.serving.search import SearchPage, search_page
from tests.conftest import DEMO, POLICIES
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


def differences(engine: Engine, template: Request, limits: tuple[int, ...]) -> list[str]:
    out = []
    for limit in limits:
        planned = pages(engine, template, limit, True)
        enumerated = pages(engine, template, limit, False)
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
    engine = Engine(POLICY_SET, load_org(org, POLICY_SET.catalogue), "cedar")
    users = [u["id"] for u in org["users"]]
    for _ in range(4):
        drawn = data.draw(record_requests(org, data.draw(st.sampled_from(users))))
        template = Request(**{**drawn, "resource_id": None})
        assert differences(engine, template, (1, 3, 100)) == []
    subject, kind = data.draw(st.sampled_from(users)), org["records"][0]["type"]
    for action in sorted(RECORD_ACTIONS):
        assert differences(engine, Request(subject, action, kind), (1, 100)) == []


def test_an_unplannable_backend_falls_back_to_the_enumeration_and_says_why() -> None:
    cedar = Engine.load(DEMO)
    polar = Engine(cedar.policies, cedar.org, "polar", index=cedar.index)
    page = search_page(polar, "resource", Request("asha", "view", "invoice"), 0, 100)
    assert page.unplanned is not None and "polar" in page.unplanned
    planned = search_page(cedar, "resource", Request("asha", "view", "invoice"), 0, 100)
    assert [f.id for f in page.found] == [f.id for f in planned.found]
    assert planned.unplanned is None


def test_a_planned_page_is_cut_at_its_deadline_and_goes_on_from_its_cursor() -> None:
    engine = Engine.load(DEMO)
    template = Request("asha", "view", "invoice")
    whole = pages(engine, template, 100, True)
    ticks = iter(range(1_000_000))
    cut = search_page(engine, "resource", template, 0, 100, 0.0, lambda: float(next(ticks)))
    rest = [] if cut.cursor is None else pages_from(engine, template, cut.cursor)
    assert [f.id for f in cut.found] + rest == [f.id for p in whole for f in p.found]


def pages_from(engine: Engine, template: Request, start: int) -> list[str]:
    page = search_page(engine, "resource", template, start, 100)
    more = [] if page.cursor is None else pages_from(engine, template, page.cursor)
    return [f.id for f in page.found] + more
