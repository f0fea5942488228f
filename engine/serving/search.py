"""Search: which records, which users, which actions a decision would allow, a page at a time.

Each candidate is checked with the same engine decision a single evaluation gets, so a search
never disagrees with the evaluations it stands for. A search for records is answered from the
query plan instead (`Engine.plan`, engine/core/plan.py): planned once per page, its condition
is evaluated on each record's attributes in the same order, and only the records it admits
for the page (at most `limit`) are decided, for the decisions the page logs; the plan equals
the per-record decisions (tests/property/test_plan.py), and a page equals the enumeration's
(tests/api/test_plan_search.py). A policy set the planner cannot follow for the request
(Unplannable) is searched record by record as before, and the page says why.

Candidates are walked in a fixed order from a cursor, in batches (one backend call each), and
only until the page is full or the page's time is spent: a page of one result on an org of
100,000 users asks about as many users as it takes to find one, and the next page starts
where this one stopped instead of asking about the earlier ones again. A page cut short by
its deadline says where to go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from suite_authz.engine.core.catalogue import ADMIN_ACTIONS, RECORD_ACTIONS
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.plan import Plan, Unplannable
from suite_authz.engine.core.request import Request

BATCH = 64  # decisions per backend call: a few ms, so other work is never held up for long
KINDS = ("subject", "resource", "action")


class Found:
    """One result: a user id, a record id or an action name, the request that asked about it
    and its decision. A planned page's results differ from their template only in the record
    id: their requests are made when first read (a page of 1,000 results logged from its
    template reads none)."""

    __slots__ = ("_request", "_template", "decision", "id")

    def __init__(
        self, id: str, request: Request | None, decision: Decision, template: Request | None = None
    ) -> None:
        if request is None and template is None:
            raise ValueError("a result needs its request or the template it was asked from")
        self.id = id
        self.decision = decision
        self._request = request
        self._template = template

    @property
    def request(self) -> Request:
        if self._request is None:
            assert self._template is not None
            self._request = _with(self._template, resource_id=self.id)
        return self._request


@dataclass(frozen=True, slots=True)
class SearchPage:
    found: tuple[Found, ...]
    cursor: int | None  # the next candidate to ask about; None when every one was asked
    examined: int  # candidates asked about for this page
    # a record search asked record by record: why the plan could not be made (Unplannable's
    # words); None when the plan answered, or for a search of users or actions
    unplanned: str | None = None


def candidates(engine: Engine, kind: str, template: Request) -> list[str]:
    """What a search walks, in a fixed order (the order its cursor counts in)."""
    if kind == "subject":
        return [u.id for u in engine.org.users]
    if kind == "action":
        fixed = [a for a, t in ADMIN_ACTIONS.items() if t == template.resource_type]
        return fixed or list(RECORD_ACTIONS)
    if template.resource_type == "user":
        return [u.id for u in engine.org.users]
    if template.resource_type == "org":
        return [engine.org.id]
    return engine.record_ids(template.resource_type)


def _nothing_to_find(engine: Engine, kind: str, template: Request) -> bool:
    """An id the search holds fixed is not in the org: every candidate is denied for it alike,
    and each such deny works out a did-you-mean (engine/core/suggestions.py), which made a page
    about an unknown record ~30x dearer than one about a real one (1.1 s against 40 ms on 3,000
    users). The answer is known without asking: nothing."""
    index = engine.index
    if kind != "subject" and template.subject not in index.users:
        return True
    rid, kind_of_record = template.resource_id, template.resource_type
    if kind == "resource" or rid is None:
        return False
    if kind_of_record == "user":
        return rid not in index.users
    if kind_of_record == "org":
        return rid != index.org.id
    return rid not in index.records.get(kind_of_record, {})


def _asked(kind: str, template: Request, candidate: str) -> Request:
    if kind == "subject":
        return _with(template, subject=candidate)
    if kind == "action":
        return _with(template, action=candidate, fields=())
    return _with(template, resource_id=candidate)


def _with(template: Request, **changes: object) -> Request:
    parts: dict[str, object] = {
        "subject": template.subject,
        "action": template.action,
        "resource_type": template.resource_type,
        "resource_id": template.resource_id,
        "channel": template.channel,
        "fields": template.fields,
        "context": dict(template.context),
    }
    parts.update(changes)
    return Request(**parts)  # type: ignore[arg-type]


def search_page(
    engine: Engine,
    kind: str,
    template: Request,
    start: int = 0,
    limit: int = 100,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    *,
    planned: bool = True,
) -> SearchPage:
    """Up to `limit` allowed candidates from `start`. `deadline` (a `clock()` time) cuts the
    page short after the batch that passes it; the cursor then says where to go on.
    `planned` False: a record search asks record by record, as an unplannable one does."""
    if kind not in KINDS:
        raise ValueError(f"search kind `{kind}` is not one of {', '.join(KINDS)}")
    if limit < 1:
        raise ValueError(f"a page holds at least one result, not {limit}")
    if _nothing_to_find(engine, kind, template):
        return SearchPage((), None, 0)
    pool = candidates(engine, kind, template)
    at = max(start, 0)
    unplanned = None
    if planned and kind == "resource" and plannable_type(engine, template.resource_type):
        try:
            plan = engine.plan(template)
        except Unplannable as exc:
            unplanned = str(exc)
        else:
            return _planned_page(engine, plan, template, pool, at, limit)
    page = _enumerated_page(engine, kind, template, pool, at, limit, deadline, clock)
    return page if unplanned is None else replace(page, unplanned=unplanned)


def plannable_type(engine: Engine, resource_type: str) -> bool:
    """A type whose records a plan lists (users and the org are not records)."""
    return resource_type in engine.policies.catalogue.modules


def _enumerated_page(
    engine: Engine,
    kind: str,
    template: Request,
    pool: list[str],
    start: int,
    limit: int,
    deadline: float | None,
    clock: Callable[[], float],
) -> SearchPage:
    """Each candidate decided, a batch at a time."""
    found: list[Found] = []
    at = start
    while at < len(pool) and len(found) < limit:
        chunk = pool[at : at + BATCH]
        asked = [_asked(kind, template, c) for c in chunk]
        decisions = engine.decide_many(asked, probe=False)
        for n, decision in enumerate(decisions):
            if decision.allowed:
                found.append(Found(chunk[n], asked[n], decision))
                if len(found) == limit:
                    at += n + 1
                    break
        else:
            at += len(chunk)
        if deadline is not None and clock() >= deadline:
            break
    return SearchPage(tuple(found), at if at < len(pool) else None, at - start)


def _planned_page(
    engine: Engine,
    plan: Plan,
    template: Request,
    pool: list[str],
    start: int,
    limit: int,
) -> SearchPage:
    """The records the plan admits, in the pool's order from `start`: the condition evaluated
    over the whole type at once (engine/core/record_table.py). The admitted are decided for
    the decision each result is logged with, one backend call per record class
    (`Engine.decide_records`); one the decision would not allow is left out, as the
    enumeration leaves it out (the plan admitting it would be a planner's bug)."""
    table = engine.record_table(template.resource_type)
    if table.ids is not pool:  # the table is the pool, in its order: never a page of another
        raise RuntimeError("the record table and the search's candidates differ")
    positions = table.positions(table.admitted(plan.condition), start, limit)
    at = positions[-1] + 1 if len(positions) == limit else len(pool)
    admitted = [pool[n] for n in positions]
    decided = engine.decide_records(template, admitted)
    found = tuple(
        Found(rid, None, d, template) for rid, d in zip(admitted, decided, strict=True) if d.allowed
    )
    return SearchPage(found, at if at < len(pool) else None, max(at - start, 0))
