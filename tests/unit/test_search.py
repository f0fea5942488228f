"""Search pages: lazy, resumable, cut by a deadline, and equal to single decisions."""

from __future__ import annotations

import json

import pytest

from suite_authz.engine.core import Engine, Request
from suite_authz.engine.core.model import load_org
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.serving.search import BATCH, search_page
from tests.conftest import DEMO


@pytest.fixture
def engine(policies: PolicySet) -> Engine:
    return Engine(policies, load_org(DEMO, policies.catalogue))


def _walk(engine: Engine, kind: str, template: Request, limit: int) -> list[str]:
    out: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        page = search_page(engine, kind, template, cursor, limit)
        out += [f.id for f in page.found]
        cursor = page.cursor
    return out


def test_pages_of_one_add_up_to_the_single_decisions(engine: Engine) -> None:
    template = Request("?", "view", "invoice", "inv-1")
    users = [u.id for u in engine.org.users]
    expected = [u for u in users if engine.decide(Request(u, "view", "invoice", "inv-1")).allowed]
    assert expected and _walk(engine, "subject", template, 1) == expected
    assert _walk(engine, "subject", template, 1000) == expected


def test_a_page_asks_only_what_it_needs_and_the_next_starts_where_it_stopped(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = engine.decide_many

    def counting(requests: list[Request], probe: bool = True) -> object:
        asked.extend(r.resource_id or "" for r in requests)
        return real(requests, probe=probe)

    monkeypatch.setattr(engine, "decide_many", counting)
    template = Request("olivia", "view", "estimate")
    first = search_page(engine, "resource", template, 0, limit=1)
    assert [f.id for f in first.found] == ["est-1"] and first.cursor == 1
    second = search_page(engine, "resource", template, first.cursor, limit=1)
    assert [f.id for f in second.found] == ["est-2"]
    assert asked.count("est-1") == 1  # the second page did not ask about the first again


def test_a_deadline_cuts_a_page_after_a_batch_and_the_cursor_goes_on(
    policies: PolicySet,
) -> None:
    data = json.loads(DEMO.read_text())
    ben = next(u for u in data["users"] if u["id"] == "ben")
    data["users"] += [{**ben, "id": f"ben-{n}", "email": f"b{n}@x.example"} for n in range(150)]
    engine = Engine(policies, load_org(data, policies.catalogue))
    template = Request("?", "view", "estimate", "est-1")
    cut = search_page(engine, "subject", template, 0, limit=1000, deadline=0.0)
    assert cut.examined == BATCH and cut.cursor == BATCH  # one batch, then the deadline
    rest = search_page(engine, "subject", template, BATCH, limit=1000)
    assert rest.cursor is None
    whole = search_page(engine, "subject", template, 0, limit=1000)
    assert [f.id for f in cut.found + rest.found] == [f.id for f in whole.found]


def test_every_result_carries_the_decision_that_allowed_it(engine: Engine) -> None:
    page = search_page(engine, "action", Request("olivia", "view", "estimate", "est-1"))
    assert page.found and all(f.decision.allowed for f in page.found)
    assert all(f.request.action == f.id for f in page.found)


@pytest.mark.parametrize(
    ("kind", "template"),
    [
        ("subject", Request("?", "view", "invoice", "inv-nosuch")),
        ("subject", Request("?", "enrol_integration_user", "user", "nosuch")),
        ("resource", Request("nosuch", "view", "invoice", None)),
        ("action", Request("asha", "view", "invoice", "inv-nosuch")),
        ("action", Request("nosuch", "view", "invoice", "inv-1")),
    ],
)
def test_a_search_fixing_an_unknown_id_asks_no_candidate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, kind: str, template: Request
) -> None:
    """Every candidate is denied for the same unknown id, and each deny worked out
    a did-you-mean: a page about an unknown record took 1.1 s on 3,000 users (40 ms before
    the hints). Nothing can be found, so nothing is asked."""
    full = _walk(engine, kind, template, 1000)
    asked: list[int] = []
    monkeypatch.setattr(engine, "decide_many", lambda rs, probe: asked.append(len(rs)) or [])
    page = search_page(engine, kind, template)
    assert full == [] and page.found == () and page.cursor is None and asked == []


@pytest.mark.parametrize("limit", [0, -1])
def test_a_page_of_no_results_is_refused_by_name(limit: int) -> None:
    """Planned and enumerated alike (the planned page once failed on an IndexError)."""
    engine = Engine.load(DEMO)
    for planned in (True, False):
        with pytest.raises(ValueError, match="at least one result"):
            search_page(engine, "resource", Request("asha", "view", "invoice"), 0, limit,
                        planned=planned)  # fmt: skip


def test_the_switch_interval_is_short_only_while_some_page_computes() -> None:
    """Pages at once, nested in any order: the interval is short until the last one ends,
    then the process's own again (kept short, it cost every single evaluation)."""
    import sys
    import threading

    from suite_authz.server.search import ShortSwitches

    before = sys.getswitchinterval()
    switches = ShortSwitches(0.0007)
    started, release = threading.Barrier(3), threading.Event()

    def page() -> None:
        with switches:
            started.wait()
            release.wait()

    pages = [threading.Thread(target=page) for _ in range(2)]
    for thread in pages:
        thread.start()
    started.wait()
    assert sys.getswitchinterval() == pytest.approx(0.0007)
    with switches:  # a third, ending first
        pass
    assert sys.getswitchinterval() == pytest.approx(0.0007)
    release.set()
    for thread in pages:
        thread.join()
    assert sys.getswitchinterval() == pytest.approx(before)
