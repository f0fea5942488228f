"""One user and every record of one module: the matrix's other axis.

A matrix column asks about one record (a module's first); a deny there is about that record
(D8 reads its status and submitter), not the module. This view asks the same user about each
record, through the same batch path (`decide_many`), so that "approve ✗ D8 on est-1" can be
told apart from "cannot approve estimates".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from suite_authz.engine.core import RECORD_ACTIONS, AuthzError, Engine, Request
from suite_authz.server.ui.views import CHANNELS, Cell, Seat, seats, status

# Records per page: 9 decisions each, the matrix's order of magnitude at most
PAGE_SIZE = 200


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: str
    status: str
    submitter: str | None
    title: str | None
    cells: list[Cell]


@dataclass
class UserRecords:
    org: str
    user: str
    name: str
    seats: list[Seat]
    profile: str
    module: str
    channel: str
    actions: list[str]  # every record action but create, which asks about no record
    create: Cell  # a new record of the module
    rows: list[RecordRow]
    page: int
    pages: int
    records: int  # of the module in the org, on every page
    modules: list[str]

    def codes(self) -> set[str]:
        """The rule codes this page shows: its legend explains these and no others."""
        return {*self.create.rules, *(r for row in self.rows for c in row.cells for r in c.rules)}


def _user(engine: Engine, ident: str) -> Any:
    for user in engine.org.users:
        if user.id == ident:
            return user
    near = difflib.get_close_matches(ident, [u.id for u in engine.org.users], n=1)
    hint = f"; did you mean `{near[0]}`?" if near else ""
    raise AuthzError(f"user: `{ident}` is not a user of org `{engine.org.id}`{hint}")


def _cell(decision: Any, user: str, action: str, resource: str, channel: str) -> Cell:
    query = {"subject": user, "action": action, "resource": resource, "channel": channel}
    return Cell(decision.allowed, decision.rules, decision.redact_fields, query)


def user_records(engine: Engine, ident: str, module: str, channel: str, page: int) -> UserRecords:
    user = _user(engine, ident)
    catalogue = engine.policies.catalogue
    if module not in catalogue.modules:
        raise AuthzError(
            f"module: `{module}` is not a module (known: {', '.join(catalogue.modules)})"
        )
    if channel not in CHANNELS:
        raise AuthzError(f"channel: `{channel}` is not one of {', '.join(CHANNELS)}")
    if page < 1:
        raise AuthzError(f"page: `{page}` is not a page (they are numbered from 1)")
    records = sorted((r for r in engine.org.records if r.type == module), key=lambda r: r.id)
    pages = max(1, -(-len(records) // PAGE_SIZE))
    if page > pages:
        raise AuthzError(f"page: `{page}` is past the last page ({pages})")
    chosen = records[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    actions = [a for a in RECORD_ACTIONS if a != "create"]
    asked = [Request(user.id, "create", module, None, channel)]
    asked += [Request(user.id, a, module, r.id, channel) for r in chosen for a in actions]
    decisions = engine.decide_many(asked, probe=False)
    create = _cell(decisions[0], user.id, "create", module, channel)
    rows = []
    for n, record in enumerate(chosen):
        answers = decisions[1 + n * len(actions) : 1 + (n + 1) * len(actions)]
        resource = f"{module}:{record.id}"
        cells = [
            _cell(d, user.id, a, resource, channel) for d, a in zip(answers, actions, strict=True)
        ]
        rows.append(
            RecordRow(record.id, status(engine, record), record.submitted_by, record.title, cells)
        )
    return UserRecords(
        engine.org.id, user.id, user.name, seats(engine, user), user.profile, module, channel,
        actions, create, rows, page, pages, len(records), list(catalogue.modules),
    )  # fmt: skip
