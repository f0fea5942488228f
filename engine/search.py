"""Search: which records, which users, which actions a decision would allow.

Each result is checked with the same `Engine.decide` a single evaluation uses, so a search
never disagrees with the evaluations it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.catalogue import ADMIN_ACTIONS, RECORD_ACTIONS
from engine.engine import Engine
from engine.request import Request


def resources(
    engine: Engine,
    subject: str,
    action: str,
    kind: str,
    channel: str = "crm",
    fields: tuple[str, ...] = (),
    context: Mapping[str, object] | None = None,
) -> list[str]:
    ctx = dict(context or {})
    if kind == "user":
        ids = [u.id for u in engine.org.users]
    elif kind == "org":
        ids = [engine.org.id]
    else:
        ids = sorted(engine.index.records.get(kind, {}))
    return [
        rid
        for rid in ids
        if engine.decide(
            Request(subject, action, kind, rid, channel, fields, ctx), probe=False
        ).allowed
    ]


def subjects(
    engine: Engine,
    action: str,
    kind: str,
    rid: str | None,
    channel: str = "crm",
    fields: tuple[str, ...] = (),
    context: Mapping[str, object] | None = None,
) -> list[str]:
    ctx = dict(context or {})
    return [
        u.id
        for u in engine.org.users
        if engine.decide(
            Request(u.id, action, kind, rid, channel, fields, ctx), probe=False
        ).allowed
    ]


def actions(
    engine: Engine,
    subject: str,
    kind: str,
    rid: str | None,
    channel: str = "crm",
    context: Mapping[str, object] | None = None,
) -> list[str]:
    ctx = dict(context or {})
    names = [a for a, t in ADMIN_ACTIONS.items() if t == kind] or list(RECORD_ACTIONS)
    return [
        a
        for a in names
        if engine.decide(Request(subject, a, kind, rid, channel, (), ctx), probe=False).allowed
    ]
