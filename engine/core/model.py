"""The org snapshot: users, profiles, roles, enrolments, records. Validated whole or refused whole.

Shape checks are pydantic's (extra="forbid"); references between parts (a user's profile, a
membership's role, a record's submitter) are checked after, so that every error names its JSON
path, and a dangling reference names both ends.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from suite_authz.engine.core.catalogue import RECORD_ACTIONS, Catalogue
from suite_authz.engine.core.errors import InvalidOrg, one_line
from suite_authz.engine.core.reading import decode_json, read_file
from suite_authz.engine.core.suggestions import did_you_mean

ProductId = Literal["books", "subscriptions"]
ModuleId = Literal[
    "estimate",
    "sales_order",
    "invoice",
    "purchase_order",
    "item",
    "customer",
    "subscription",
    "report",
    "dashboard",
]
RecordAction = Literal[
    "view", "create", "edit", "delete", "approve", "submit", "send_email", "convert", "void"
]
Status = Literal["draft", "pending_approval", "approved", "void", "active"]
FieldAccess = Literal["hidden", "read_only"]
DataCentre = Literal["US", "EU", "IN", "AU", "JP", "CA", "UK", "SA", "AE", "CN"]
Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]

# Ids are opaque strings: they only ever reach Cedar inside structured entity JSON, never policy
# text. "" is reserved for "a new record", and a leading "#" for ids the engine makes.
Id = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^#\x00-\x1f][^\x00-\x1f]*$")]


def _instant(value: str) -> str:
    """An ISO 8601 instant with its offset (`2026-11-25T09:00:00Z`): comparable across
    exports, which a time without a zone is not."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-25T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry its offset (Z or +01:00)")
    return value


Instant = Annotated[str, AfterValidator(_instant)]
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
FieldName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ActionOrAll = Literal[
    "view", "create", "edit", "delete", "approve", "submit", "send_email", "convert", "void", "*"
]
ActionList = list[ActionOrAll]
FieldRules = dict[ModuleId, dict[FieldName, FieldAccess]]


# Cedar's Long: an org's integers reach Cedar as entity attributes, and one it cannot hold
# would make the org fail to parse (or every decision over it fail), not be refused by name.
CEDAR_LONG_MAX = 2**63 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(_Strict):
    id: Id
    name: str = ""
    allows: dict[ModuleId, ActionList] = {}


class Role(_Strict):
    id: Id
    product: ProductId
    name: str = ""
    grants: dict[ModuleId, ActionList] = {}
    fields: FieldRules = {}


class Membership(_Strict):
    product: ProductId
    role: Id


class Enrolment(_Strict):
    product: ProductId
    source: Literal["admin", "migration"] = "admin"
    enrolled_on: date | None = None


class User(_Strict):
    id: Id
    name: str = ""
    email: Email
    crm_admin: bool = False
    profile: Id
    memberships: list[Membership] = []
    enrolments: list[Enrolment] = []


class Record(_Strict):
    id: Id
    type: ModuleId
    status: Status | None = None
    submitted_by: Id | None = None
    folder: str | None = None
    title: str | None = None


class Migration(_Strict):
    window_start: date | None = None
    limit: int = Field(default=1000, ge=0, le=CEDAR_LONG_MAX)
    # Set by applying a plan made after the window ended: nothing is left to migrate.
    completed_on: date | None = None


class Org(_Strict):
    id: Id
    name: str = ""
    # When the CRM exported it: an import older than what the store holds is refused.
    exported_at: Instant | None = None
    data_centre: DataCentre
    edition: Edition
    new_org: bool = False
    integration_owner: Id | None = None
    migration: Migration = Migration()
    approval: dict[ProductId, list[ModuleId]] = {}
    integration_user_fields: dict[ProductId, FieldRules] = {}
    profiles: list[Profile] = []
    roles: list[Role] = []
    users: list[User] = []
    records: list[Record] = []

    @property
    def exported(self) -> datetime | None:
        return datetime.fromisoformat(self.exported_at) if self.exported_at else None

    @property
    def approval_modules(self) -> frozenset[str]:
        """Modules with approval switched on in any product (D8: a restriction restricts)."""
        return frozenset(m for modules in self.approval.values() for m in modules)

    def approval_products(self, module: str) -> tuple[str, ...]:
        """R2: the products that switched approval on for `module`; approving goes through them."""
        return tuple(p for p, modules in self.approval.items() if module in modules)

    @property
    def integration_users(self) -> int:
        """R1: users who are integration users of the org, however enrolled, each once. The
        limit (migration.limit) caps this count."""
        return sum(1 for u in self.users if u.enrolments)

    def new_integration_users(self, enrolments: list[tuple[str, str]]) -> int:
        """How many of the users in (user, product) enrolments are not integration users yet:
        what those enrolments add to the count the limit caps (R1)."""
        already = {u.id for u in self.users if u.enrolments}
        return len({user for user, _ in enrolments} - already)


def qualified_fields(rules: FieldRules, access: str) -> list[str]:
    """`module.field` names with the given access ("hidden" or "read_only"), sorted."""
    return sorted(f"{m}.{f}" for m, fs in rules.items() for f, a in fs.items() if a == access)


def expand(actions: ActionList) -> tuple[str, ...]:
    """`*` stands for every record action."""
    if "*" in actions:
        return RECORD_ACTIONS
    return tuple(dict.fromkeys(actions))


def load_org(source: Path | str | dict[str, Any], catalogue: Catalogue, name: str = "") -> Org:
    """Parse and check an org snapshot: a path to JSON, JSON text, or an already-decoded dict.
    Every message starts with the file's path, or with `name` where the text came from one."""
    where = f"{name}: " if name else ""
    if isinstance(source, Path):
        where = f"{source}: "
        data = decode_json(read_file(source, "org snapshot", InvalidOrg), where, InvalidOrg)
    elif isinstance(source, str):
        data = decode_json(source, where, InvalidOrg)
    else:
        data = source
    org = validate_org(data, where)
    problems = [where + p for p in check_references(org, catalogue)]
    if problems:
        raise InvalidOrg(one_line("invalid org", problems), tuple(problems))
    return org


# Users and records are validated so many at a time: pydantic validates a whole list in one
# call into C, which holds the GIL to its end, and a server answers on another thread while it
# loads an org (tests/unit/test_reload_latency.py). The answers are the same either way.
VALIDATE_CHUNK = 2000
_ORG: TypeAdapter[Org] = TypeAdapter(Org)
PARTS: dict[str, TypeAdapter[Any]] = {
    "users": TypeAdapter(list[User]),
    "records": TypeAdapter(list[Record]),
}


def validate_org(data: object, where: str = "") -> Org:
    """The org's shape checked (pydantic), its users and records a chunk at a time; InvalidOrg
    naming every problem's path otherwise."""
    problems: list[str] = []
    parts: dict[str, list[Any]] = {}
    if isinstance(data, dict) and all(isinstance(data.get(k, []), list) for k in PARTS):
        for key, adapter in PARTS.items():
            items: list[Any] = data.get(key, [])
            parts[key] = []
            for start in range(0, len(items), VALIDATE_CHUNK):
                chunk = items[start : start + VALIDATE_CHUNK]
                parts[key].extend(_checked(adapter, chunk, problems, (key,), start) or ())
        data = {k: v for k, v in data.items() if k not in PARTS}
    org = _checked(_ORG, data, problems)
    if org is None or problems:
        problems = sorted(dict.fromkeys(where + p for p in problems))
        raise InvalidOrg(one_line("invalid org", problems), tuple(problems))
    return org.model_copy(update=parts) if parts else org  # type: ignore[no-any-return]


def stored_org(text: str, where: str = "") -> Org:
    """An org's text as a store keeps it: checked whole when it was stored, so only parsed into
    models here, without the duplicate-key walk and the reference checks a text from outside
    gets (a change applied to it checks what it touches; a server loading it checks it all)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidOrg(f"{where}: not JSON: {exc}") from None
    return validate_org(data, f"{where}: " if where else "")


def _checked(
    adapter: TypeAdapter[Any],
    data: object,
    problems: list[str],
    prefix: tuple[str, ...] = (),
    offset: int = 0,
) -> Any:
    """`adapter`'s result on `data`, or None with its problems added, their paths under
    `prefix` (a chunk's items numbered from `offset`)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, prefix=prefix, offset=offset))
        return None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = str(part)
        else:
            out += f".{part}"
    return out or "(top level)"


def pydantic_problems(
    exc: ValidationError,
    known_keys: tuple[str, ...] = (),
    *,
    prefix: tuple[str, ...] = (),
    offset: int = 0,
) -> list[str]:
    """One line per problem, each with its path; an unknown key gets a did-you-mean among
    `known_keys`. `prefix`: where the validated value sits (a list's items numbered from
    `offset`)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc and isinstance(loc[0], int):
            loc = (loc[0] + offset, *loc[1:])
        loc = (*prefix, *loc)
        kind = err["type"]
        if kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            hint = did_you_mean(err["input"], re.findall(r"'([^']*)'", expected))
            msg = f"{err['input']!r} is not one of {expected}{hint}"
        elif kind == "extra_forbidden":
            msg = "unknown field" + did_you_mean(loc[-1] if loc else "", known_keys)
        elif kind == "missing":
            msg = "required field is missing"
        else:
            msg = err["msg"].lower()
        problems.append(f"{_path(loc)}: {msg}")
    return sorted(dict.fromkeys(problems))


def _products(catalogue: Catalogue, module: str) -> tuple[str, ...]:
    """The products that own a module; none for a module this catalogue does not list (a
    narrowed catalogue must refuse the org by name, not fail on a missing key)."""
    info = catalogue.modules.get(module)
    return info.products if info is not None else ()


def check_references(org: Org, catalogue: Catalogue) -> list[str]:
    """Every reference resolves, every id is unique, and no user holds two seats in one product."""
    problems: list[str] = []
    profiles = _unique(org.profiles, "profiles", problems)
    roles = _unique(org.roles, "roles", problems)
    users = _unique(org.users, "users", problems)
    _check_modules(org, catalogue, problems)
    check_users(org, catalogue, profiles, roles, problems)
    if org.integration_owner is not None and org.integration_owner not in users:
        problems.append(
            f"integration_owner: org names `{org.integration_owner}`, which users does not hold"
        )
    check_records(org, catalogue, users, problems)
    return problems


def _check_modules(org: Org, catalogue: Catalogue, problems: list[str]) -> None:
    """Roles, approval and integration-user field rules name modules of their own product."""
    for i, role in enumerate(org.roles):
        for module in role.grants:
            if role.product not in _products(catalogue, module):
                problems.append(
                    f"roles[{i}].grants.{module}: module `{module}` is not part of "
                    f"{catalogue.label(role.product)}, the product of role `{role.id}`"
                )
        for module in role.fields:
            if role.product not in _products(catalogue, module):
                problems.append(
                    f"roles[{i}].fields.{module}: module `{module}` is not part of "
                    f"{catalogue.label(role.product)}, the product of role `{role.id}`"
                )
        _field_names(role.fields, f"roles[{i}].fields", catalogue, problems)
    for product, modules in org.approval.items():
        for j, module in enumerate(modules):
            if product not in _products(catalogue, module):
                problems.append(
                    f"approval.{product}[{j}]: module `{module}` is not part of "
                    f"{catalogue.label(product)}"
                )
    for product, rules in org.integration_user_fields.items():
        for module in rules:
            if product not in _products(catalogue, module):
                problems.append(
                    f"integration_user_fields.{product}.{module}: module `{module}` is not part "
                    f"of {catalogue.label(product)}"
                )
        _field_names(rules, f"integration_user_fields.{product}", catalogue, problems)


def check_users(
    org: Org,
    catalogue: Catalogue,
    profiles: dict[str, Any],
    roles: dict[str, Role],
    problems: list[str],
) -> None:
    """Each user's profile and roles exist, and one seat per product (D12)."""
    for i, user in enumerate(org.users):
        if user.profile not in profiles:
            problems.append(
                f"users[{i}].profile: user `{user.id}` names profile `{user.profile}`, "
                "which profiles does not hold"
            )
        seats: dict[str, str] = {}
        for j, m in enumerate(user.memberships):
            here = f"users[{i}].memberships[{j}]"
            held: Role | None = roles.get(m.role)
            if held is None:
                problems.append(
                    f"{here}.role: user `{user.id}` names role `{m.role}`, "
                    "which roles does not hold"
                )
            elif held.product != m.product:
                problems.append(
                    f"{here}.role: role `{m.role}` belongs to {catalogue.label(held.product)}, "
                    f"not {catalogue.label(m.product)}"
                )
            if m.product in seats:
                problems.append(
                    f"{here}.product: user `{user.id}` already has a seat in "
                    f"{catalogue.label(m.product)} ({seats[m.product]})"
                )
            seats[m.product] = "member"
        for j, e in enumerate(user.enrolments):
            if e.product in seats:
                # D12: a member of a product cannot also be its integration user.
                problems.append(
                    f"users[{i}].enrolments[{j}].product: user `{user.id}` already has a seat in "
                    f"{catalogue.label(e.product)} ({seats[e.product]}), so cannot be enrolled "
                    "as its integration user"
                )
            seats[e.product] = "integration user"


def check_records(
    org: Org, catalogue: Catalogue, users: dict[str, Any], problems: list[str]
) -> None:
    """Record ids are unique per type, submitters exist, and each record has the attributes of
    its type."""
    approval_on = org.approval_modules
    seen: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(org.records):
        key = (rec.type, rec.id)
        if key in seen:
            problems.append(
                f"records[{i}].id: {rec.type} `{rec.id}` is already records[{seen[key]}]"
            )
        seen.setdefault(key, i)
        if rec.submitted_by is not None and rec.submitted_by not in users:
            problems.append(
                f"records[{i}].submitted_by: {rec.type} `{rec.id}` names `{rec.submitted_by}`, "
                "which users does not hold"
            )
        if rec.status == "pending_approval" and rec.type not in approval_on:
            problems.append(
                f"records[{i}].status: {rec.type} `{rec.id}` is pending approval, but approval "
                f"is not switched on for {catalogue.modules[rec.type].plural}"
            )
        if rec.type == "report" and rec.folder is None:
            problems.append(f"records[{i}].folder: report `{rec.id}` needs a folder")
        if rec.type in ("report", "dashboard") and rec.title is None:
            problems.append(f"records[{i}].title: {rec.type} `{rec.id}` needs a title")
        if rec.type not in ("report", "dashboard") and (rec.folder or rec.title):
            problems.append(
                f"records[{i}]: folder and title belong to reports and dashboards, not to "
                f"{catalogue.modules[rec.type].plural}"
            )


def _field_names(rules: FieldRules, where: str, catalogue: Catalogue, problems: list[str]) -> None:
    """R4: field rules name only the module's own fields, spelled as the catalogue spells them."""
    for module, fields in rules.items():
        info = catalogue.modules.get(module)
        if info is None:
            continue  # refused above, by module
        for name in fields:
            problem = info.field_problem(name)
            if problem is not None:
                problems.append(f"{where}.{module}.{name}: {problem}")


def _unique(items: list[Any], name: str, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if item.id in out:
            first = next(j for j, other in enumerate(items) if other.id == item.id)
            problems.append(f"{name}[{i}].id: `{item.id}` is already {name}[{first}]")
        else:
            out[item.id] = item
    return out


def default_status(record: Record, catalogue: Catalogue) -> str:
    if record.status is not None:
        return record.status
    return "draft" if catalogue.modules[record.type].transaction else "active"
