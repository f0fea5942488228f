"""What each user can do before and after a migration: the old model against the new.

Before: the legacy set (policies/legacy) on the org as it is, every request made with the
integration owner's credentials, as the old integration made them (`acting_as` the owner).
After: the shipped policies on the org as the plan leaves it, every request as the user.
A right is an action on a module, asked from the CRM about the module as a whole (a new record).

Users are asked by what the policies can read of a user in such a request: profile, CRM admin
flag, seats (product, member or not, role) and whether they are the integration owner. Users
alike in all of these have the same rights, so each such kind of user is asked once; that is
what keeps an org of thousands of users to seconds. tests/unit/test_migration.py checks the
shortcut against asking every user.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from suite_authz.engine.core.catalogue import RECORD_ACTIONS
from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.model import User
from suite_authz.engine.core.request import Request

Right = tuple[str, str]  # (module, action)


def user_kind(user: User, owner: str | None) -> tuple[object, ...]:
    seats = sorted((m.product, True, m.role) for m in user.memberships)
    seats += sorted((e.product, False, "") for e in user.enrolments)
    return (user.profile, user.crm_admin, tuple(seats), user.id == owner)


def rights_by_user(engine: Engine, borrowed_from: str | None = None) -> dict[str, set[Right]]:
    """Every user's rights under `engine`; with `borrowed_from`, each request runs as that user
    (the old model). With no one to borrow from, the old model granted nobody anything."""
    org = engine.org
    modules = list(engine.policies.catalogue.modules)
    owner = org.integration_owner
    kinds: dict[tuple[object, ...], str] = {}
    for user in org.users:
        kinds.setdefault(user_kind(user, owner), user.id)
    context = {"acting_as": borrowed_from} if borrowed_from else {}
    asked = [(m, a) for m in modules for a in RECORD_ACTIONS]
    requests = [Request(rep, a, m, context=context) for rep in kinds.values() for (m, a) in asked]
    decisions = engine.decide_many(requests, probe=False)
    by_kind: dict[str, set[Right]] = {}
    for n, rep in enumerate(kinds.values()):
        chunk = decisions[n * len(asked) : (n + 1) * len(asked)]
        by_kind[rep] = {right for right, d in zip(asked, chunk, strict=True) if d.allowed}
    return {u.id: by_kind[kinds[user_kind(u, owner)]] for u in org.users}


def impact(old: Engine, new: Engine) -> dict[str, Any]:
    """`old`: the legacy set on the org before; `new`: the shipped set on the org after."""
    owner = old.org.integration_owner
    before = rights_by_user(old, borrowed_from=owner) if owner else {}
    after = rights_by_user(new)
    users: list[dict[str, Any]] = []
    for user in new.org.users:
        was, now = before.get(user.id, set()), after.get(user.id, set())
        users.append(
            {
                "user": user.id,
                "lose": _names(was - now),
                "keep": _names(was & now),
                "gain": _names(now - was),
            }
        )
    groups: dict[tuple[tuple[str, ...], ...], list[str]] = {}
    for u in users:
        key = (tuple(u["lose"]), tuple(u["keep"]), tuple(u["gain"]))
        groups.setdefault(key, []).append(u["user"])
    return {
        "borrowed_from": owner,
        "totals": {
            "users": len(users),
            "users_losing": sum(1 for u in users if u["lose"]),
            "users_gaining": sum(1 for u in users if u["gain"]),
            "users_unchanged": sum(1 for u in users if not u["lose"] and not u["gain"]),
            "rights_lost": sum(len(u["lose"]) for u in users),
            "rights_kept": sum(len(u["keep"]) for u in users),
            "rights_gained": sum(len(u["gain"]) for u in users),
        },
        "groups": [
            {
                "users": sorted(members),
                "count": len(members),
                "lose": list(key[0]),
                "keep": list(key[1]),
                "gain": list(key[2]),
            }
            for key, members in sorted(
                groups.items(), key=lambda kv: (-len(kv[1]), sorted(kv[1])[0])
            )
        ],
        "users": users,
    }


def _names(rights: Iterable[Right]) -> list[str]:
    """`module.action`, sorted by module then action in catalogue order."""
    order = {a: n for n, a in enumerate(RECORD_ACTIONS)}
    return [f"{m}.{a}" for m, a in sorted(rights, key=lambda r: (r[0], order[r[1]]))]
