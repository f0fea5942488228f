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
    base_version: int | None = Field(default=None, ge=1, strict=True)
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
    applying = _Applying(org)
    for k, change in enumerate(change_set.changes):
        applying.apply(k, change)
    if applying.problems:
        _refuse(prefix, applying.problems)
    after = applying.after()
    applying.check(after, catalogue)
    if applying.problems:
        _refuse(prefix, applying.problems)
    records = applying.records or {}
    return Applied(
        after,
        {u: applying.users.get(u) for u in (*applying.touched_users, *applying.removed_users)},
        {key: records.get(key) for key in (*applying.touched_records, *applying.removed_records)},
        applying.shared or after.integration_users != org.integration_users,
    )


class _Applying:
    """The org's items as a change set leaves them, one operation at a time, and what each
    operation touched (by the index of the last operation that touched it)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.users = {u.id: u for u in org.users}
        self.records: dict[tuple[str, str], Record] | None = None  # built if a record changes
        self.profiles = {p.id: p for p in org.profiles}
        self.roles = {r.id: r for r in org.roles}
        self.settings: dict[str, Any] = {}
        self.problems: list[str] = []
        self.touched_users: dict[str, int] = {}
        self.removed_users: dict[str, int] = {}
        self.touched_records: dict[tuple[str, str], int] = {}
        self.removed_records: set[tuple[str, str]] = set()
        self.shared = False  # a profile, role or setting: what every request reads

    def apply(self, k: int, change: Any) -> None:
        here = f"changes[{k}]"
        if isinstance(change, SetUser | RemoveUser):
            self._user(k, here, change)
        elif isinstance(change, SetRecord | RemoveRecord):
            self._record(k, here, change)
        elif isinstance(change, SetOrg):
            self.shared = True
            self.settings = _settings(self.org, self.settings, change.set, here, self.problems)
        else:
            self.shared = True
            self._shared_item(here, change)

    def _user(self, k: int, here: str, change: SetUser | RemoveUser) -> None:
        if isinstance(change, SetUser):
            got = self.users.get(change.id)
            user = _merged(User, got, change.id, change.set, here, self.problems)
            if user is not None:
                self.users[change.id] = user
                self.touched_users[change.id] = k
                self.removed_users.pop(change.id, None)
            return
        if self.users.pop(change.id, None) is None:
            self.problems.append(f"{here}.id: the org holds no user `{change.id}`")
        self.touched_users.pop(change.id, None)
        self.removed_users[change.id] = k

    def _record(self, k: int, here: str, change: SetRecord | RemoveRecord) -> None:
        if self.records is None:
            self.records = {(r.type, r.id): r for r in self.org.records}
        key = (change.type, change.id)
        if isinstance(change, SetRecord):
            fields = {"type": change.type, **change.set}
            got = self.records.get(key)
            record = _merged(Record, got, change.id, fields, here, self.problems)
            if record is not None:
                if record.type != change.type:
                    self.problems.append(f"{here}.set.type: a record's type is not changed")
                self.records[key] = record
                self.touched_records[key] = k
                self.removed_records.discard(key)
        elif self.records.pop(key, None) is None:
            self.problems.append(f"{here}: the org holds no {change.type} `{change.id}`")
        else:
            self.touched_records.pop(key, None)
            self.removed_records.add(key)

    def _shared_item(self, here: str, change: Any) -> None:
        is_profile = isinstance(change, SetProfile | RemoveProfile)
        table: dict[str, Any] = self.profiles if is_profile else self.roles
        if isinstance(change, SetProfile | SetRole):
            model: type[Any] = Profile if is_profile else Role
            item = _merged(model, table.get(change.id), change.id, change.set, here, self.problems)
            if item is not None:
                table[change.id] = item
        elif table.pop(change.id, None) is None:
            kind = "profile" if is_profile else "role"
            self.problems.append(f"{here}.id: the org holds no {kind} `{change.id}`")

    def after(self) -> Org:
        updates: dict[str, Any] = {"users": list(self.users.values())}
        if self.records is not None:
            updates["records"] = list(self.records.values())
        if self.shared:
            updates["profiles"] = list(self.profiles.values())
            updates["roles"] = list(self.roles.values())
        return self.org.model_copy(update={**self.settings, **updates})

    def check(self, after: Org, catalogue: Catalogue) -> None:
        if self.shared:  # a profile, role or setting any user may read: the whole org again
            found = check_references(after, catalogue)
            self.problems += [f"after the changes: {p}" for p in found]
        else:
            _check_touched(after, catalogue, self)


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


def _check_touched(after: Org, catalogue: Catalogue, applying: _Applying) -> None:
    """What a change to users and records alone can break, named by the change."""
    problems, users, records = applying.problems, applying.users, applying.records or {}
    profiles = {p.id: p for p in after.profiles}
    roles = {r.id: r for r in after.roles}
    for user_id, k in applying.touched_users.items():
        found: list[str] = []
        one = after.model_copy(update={"users": [users[user_id]]})
        check_users(one, catalogue, profiles, roles, found)
        problems.extend(f"changes[{k}].set{p.removeprefix('users[0]')}" for p in found)
    for key, k in applying.touched_records.items():
        found = []
        one = after.model_copy(update={"records": [records[key]]})
        check_records(one, catalogue, users, found)
        problems.extend(f"changes[{k}].set{p.removeprefix('records[0]')}" for p in found)
    submitted: dict[str, Record] = {}
    if applying.removed_users:  # each record read once, however many users are removed
        for record in reversed(after.records):
            if record.submitted_by is not None:
                submitted[record.submitted_by] = record
    for user_id, k in applying.removed_users.items():
        if after.integration_owner == user_id:
            problems.append(
                f"changes[{k}]: user `{user_id}` is the org's integration_owner; name another first"
            )
        named = submitted.get(user_id)
        if named is not None:
            problems.append(
                f"changes[{k}]: user `{user_id}` submitted {named.type} `{named.id}`; "
                "records keep their submitter, so the user stays (take their seats instead)"
            )


def _refuse(prefix: str, problems: list[str]) -> None:
    named = [prefix + p for p in problems]
    raise InvalidOrg(one_line("invalid change set", named), tuple(named))
