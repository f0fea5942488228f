"""A small change to an org (a user's seats, a record's status, a setting), checked against the
org and applied without a whole snapshot: `authz org apply CHANGES.json`, and a sidecar that
brings the org it serves up to date without rebuilding it.

A change set names its org and lists operations, applied in order:

    {"org": "demo", "base_version": 7, "changes": [
        {"op": "user", "id": "ben", "set": {"memberships": [], "enrolments": []}},
        {"op": "record", "type": "invoice", "id": "inv-9", "set": {"status": "approved"}},
        {"op": "remove_user", "id": "old-intern"},
        {"op": "org", "set": {"approval": {"books": ["invoice"]}}}]}

`set` merges into the item the org holds (or, for an id it does not hold, is the new item
whole); the item that results is validated as an import would validate it. Only what a change
can break is checked again (the users and records it touched, what names a removed one), except
for profiles, roles and settings, which any user may read: a change to those checks the whole
org. Every problem names the change it comes from (`changes[2].set.email: ...`).

What changed is said as entity uids, so that a Cedar engine can tell which requests its parsed
entities still answer (engine/core/backends/cedar_entities.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from suite_authz.engine.core.catalogue import Catalogue
from suite_authz.engine.core.errors import InvalidOrg, one_line
from suite_authz.engine.core.model import (
    Id,
    ModuleId,
    Org,
    Profile,
    Record,
    Role,
    User,
    check_records,
    check_references,
    check_users,
    pydantic_problems,
)
from suite_authz.engine.core.reading import decode_json

MAX_CHANGES = 10_000  # a change set larger than this is a snapshot: import it
# Org fields a change may set with {"op": "org"}: the settings, not the lists of items.
SETTINGS = tuple(
    k for k in Org.model_fields if k not in ("id", "profiles", "roles", "users", "records")
)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetUser(_Op):
    op: Literal["user"]
    id: Id
    set: dict[str, Any]


class RemoveUser(_Op):
    op: Literal["remove_user"]
    id: Id


class SetRecord(_Op):
    op: Literal["record"]
    type: ModuleId
    id: Id
    set: dict[str, Any]


class RemoveRecord(_Op):
    op: Literal["remove_record"]
    type: ModuleId
    id: Id


class SetProfile(_Op):
    op: Literal["profile"]
    id: Id
    set: dict[str, Any]


class RemoveProfile(_Op):
    op: Literal["remove_profile"]
    id: Id


class SetRole(_Op):
    op: Literal["role"]
    id: Id
    set: dict[str, Any]


class RemoveRole(_Op):
    op: Literal["remove_role"]
    id: Id


class SetOrg(_Op):
    op: Literal["org"]
    set: dict[str, Any]


Change = Annotated[
    SetUser
    | RemoveUser
    | SetRecord
    | RemoveRecord
    | SetProfile
    | RemoveProfile
    | SetRole
    | RemoveRole
    | SetOrg,
    Field(discriminator="op"),
]


class ChangeSet(_Op):
    org: Id
    # the org's version the change was written against: refused if the store holds another
    base_version: int | None = Field(default=None, ge=1)
    changes: list[Change] = Field(min_length=1, max_length=MAX_CHANGES)


_CHANGE_SET: TypeAdapter[ChangeSet] = TypeAdapter(ChangeSet)


def parse_change_set(text: str, where: str = "") -> ChangeSet:
    """A change set's JSON text, its shape checked; InvalidOrg naming each problem's path."""
    prefix = f"{where}: " if where else ""
    data = decode_json(text, prefix, InvalidOrg)
    try:
        return _CHANGE_SET.validate_python(data)
    except ValidationError as exc:
        problems = [prefix + p for p in pydantic_problems(exc)]
        raise InvalidOrg(one_line("invalid change set", problems), tuple(problems)) from None


@dataclass(frozen=True, slots=True)
class Applied:
    """The org after a change set, and what the change touched."""

    org: Org
    users: Mapping[str, User | None]  # each user set or removed (None), as it is now
    records: Mapping[tuple[str, str], Record | None]  # (module, id): each record set or removed
    # a profile, role or setting changed, or the count of integration users the org entity
    # carries: what every request reads
    shared: bool

    def entity_uids(self, catalogue: Catalogue) -> frozenset[tuple[str, str]]:
        """The Cedar entities whose JSON may differ from the org's before the change."""
        out = {("User", u) for u in self.users}
        out |= {(catalogue.modules[m].entity, i) for m, i in self.records}
        return frozenset(out)


def apply_changes(
    org: Org, change_set: ChangeSet, catalogue: Catalogue, where: str = ""
) -> Applied:
    """`org` with `change_set` applied in order, checked; InvalidOrg naming every problem
    (each message starting with `where`, the change set's file), and `org` itself untouched
    (it is immutable, and shared with the engine serving it)."""
    prefix = f"{where}: " if where else ""
    if change_set.org != org.id:
        raise InvalidOrg(
            f"{prefix}org: the change set is for org `{change_set.org}`, not `{org.id}`"
        )
    users = {u.id: u for u in org.users}
    records: dict[tuple[str, str], Record] | None = None  # built only if a record changes
    profiles = {p.id: p for p in org.profiles}
    roles = {r.id: r for r in org.roles}
    settings: dict[str, Any] = {}
    problems: list[str] = []
    touched_users: dict[str, int] = {}  # id -> the last change that set it
    touched_records: dict[tuple[str, str], int] = {}
    removed_users: dict[str, int] = {}
    shared = False
    for k, change in enumerate(change_set.changes):
        here = f"changes[{k}]"
        if isinstance(change, SetUser):
            user = _merged(User, users.get(change.id), change.id, change.set, here, problems)
            if user is not None:
                users[change.id] = user
                touched_users[change.id] = k
                removed_users.pop(change.id, None)
        elif isinstance(change, RemoveUser):
            if users.pop(change.id, None) is None:
                problems.append(f"{here}.id: the org holds no user `{change.id}`")
            touched_users.pop(change.id, None)
            removed_users[change.id] = k
        elif isinstance(change, SetRecord | RemoveRecord):
            if records is None:
                records = {(r.type, r.id): r for r in org.records}
            key = (change.type, change.id)
            if isinstance(change, SetRecord):
                fields = {"type": change.type, **change.set}
                record = _merged(Record, records.get(key), change.id, fields, here, problems)
                if record is not None:
                    if record.type != change.type:
                        problems.append(f"{here}.set.type: a record's type is not changed")
                    records[key] = record
                    touched_records[key] = k
            elif records.pop(key, None) is None:
                problems.append(f"{here}: the org holds no {change.type} `{change.id}`")
            else:
                touched_records.pop(key, None)
        elif isinstance(change, SetProfile | RemoveProfile | SetRole | RemoveRole):
            shared = True
            table: dict[str, Any] = (
                profiles if isinstance(change, SetProfile | RemoveProfile) else roles
            )
            model: type[Any] = Profile if table is profiles else Role
            if isinstance(change, SetProfile | SetRole):
                item = _merged(model, table.get(change.id), change.id, change.set, here, problems)
                if item is not None:
                    table[change.id] = item
            elif table.pop(change.id, None) is None:
                kind = "profile" if table is profiles else "role"
                problems.append(f"{here}.id: the org holds no {kind} `{change.id}`")
        else:
            shared = True
            settings = _settings(org, settings, change.set, here, problems)
    if problems:
        _refuse(prefix, problems)
    updates: dict[str, Any] = {"users": list(users.values())}
    if records is not None:
        updates["records"] = list(records.values())
    if shared:
        updates["profiles"] = list(profiles.values())
        updates["roles"] = list(roles.values())
    after = org.model_copy(update={**settings, **updates})
    if shared:
        # a profile, role or setting any user may read: the whole org is checked again
        problems = [f"after the changes: {p}" for p in check_references(after, catalogue)]
    else:
        _check_touched(
            after, catalogue, users, records or {}, touched_users, removed_users, touched_records,
            problems,
        )  # fmt: skip
    if problems:
        _refuse(prefix, problems)
    shared = shared or after.integration_users != org.integration_users
    changed_records = {*touched_records, *_removed_records(change_set)}
    return Applied(
        after,
        {u: users.get(u) for u in (*touched_users, *removed_users)},
        {key: (records or {}).get(key) for key in changed_records},
        shared,
    )


def _merged(
    model: type[Any],
    before: Any,
    item_id: str,
    fields: dict[str, Any],
    here: str,
    problems: list[str],
) -> Any:
    """The item `fields` make of `before` (None: a new item), validated, or None with its
    problems added."""
    if "id" in fields and fields["id"] != item_id:
        problems.append(f"{here}.set.id: an item's id is not changed (it is `{item_id}`)")
        return None
    data = {**(before.model_dump(exclude_none=True) if before is not None else {}), **fields}
    data["id"] = item_id
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, prefix=(f"{here}.set",)))
        return None


def _settings(
    org: Org, settings: dict[str, Any], fields: dict[str, Any], here: str, problems: list[str]
) -> dict[str, Any]:
    """The settings changed so far, with `fields` merged in and checked as an org's are."""
    unknown = sorted(set(fields) - set(SETTINGS))
    for name in unknown:
        problems.append(f"{here}.set.{name}: not a setting a change may set")
    merged = {**settings, **{k: v for k, v in fields.items() if k in SETTINGS}}
    data = {k: v for k, v in org.model_dump(exclude_none=True).items() if k in SETTINGS}
    try:
        checked = Org.model_validate({**data, **merged, "id": org.id})
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, prefix=(f"{here}.set",)))
        return settings
    return {k: getattr(checked, k) for k in merged}


def _check_touched(
    after: Org,
    catalogue: Catalogue,
    users: dict[str, User],
    records: dict[tuple[str, str], Record],
    touched_users: dict[str, int],
    removed_users: dict[str, int],
    touched_records: dict[tuple[str, str], int],
    problems: list[str],
) -> None:
    """What a change to users and records alone can break, named by the change."""
    profiles = {p.id: p for p in after.profiles}
    roles = {r.id: r for r in after.roles}
    for user_id, k in touched_users.items():
        found: list[str] = []
        one = after.model_copy(update={"users": [users[user_id]]})
        check_users(one, catalogue, profiles, roles, found)
        problems.extend(f"changes[{k}].set{p.removeprefix('users[0]')}" for p in found)
    for key, k in touched_records.items():
        found = []
        one = after.model_copy(update={"records": [records[key]]})
        check_records(one, catalogue, users, found)
        problems.extend(f"changes[{k}].set{p.removeprefix('records[0]')}" for p in found)
    for user_id, k in removed_users.items():
        if after.integration_owner == user_id:
            problems.append(
                f"changes[{k}]: user `{user_id}` is the org's integration_owner; name another first"
            )
        named = next((r for r in after.records if r.submitted_by == user_id), None)
        if named is not None:
            problems.append(
                f"changes[{k}]: user `{user_id}` submitted {named.type} `{named.id}`; "
                "records keep their submitter, so the user stays (take their seats instead)"
            )


def _removed_records(change_set: ChangeSet) -> frozenset[tuple[str, str]]:
    return frozenset((c.type, c.id) for c in change_set.changes if isinstance(c, RemoveRecord))


def _refuse(prefix: str, problems: list[str]) -> None:
    named = [prefix + p for p in problems]
    raise InvalidOrg(one_line("invalid change set", named), tuple(named))
