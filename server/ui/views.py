"""What the admin page shows, worked out by the engine: the page only lays it out.

Every cell of the matrix is a decision the engine takes through `decide_many`, the batch path
the sidecar's `/access/v1/evaluations` takes; an explanation is `decide` on the request the
sidecar would parse from the same AuthZEN JSON; a policy change is `authz diff`'s report; a
migration is `authz migrate plan --impact`'s plan. None of these is logged as a decision: the
page asks what would be decided, nobody acts on it.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from suite_authz.engine.core import (
    NEW_RECORD_ID,
    RECORD_ACTIONS,
    AuthzError,
    Engine,
    PolicySet,
    Request,
)
from suite_authz.engine.migration import plan_org
from suite_authz.engine.review import default_orgs, semantic_diff
from suite_authz.engine.sources import PolicyRef, Source, history_names, resolve_policies
from suite_authz.engine.store import OrgStore, policy_versions

# Users per page of the matrix: a whole 1,000-user org for one module (9,000 decisions), a
# tenth of it for every module at once (81 columns)
PAGE_SIZE, PAGE_SIZE_ALL = 1000, 100
CHANNELS = ("crm", "direct")


@dataclass(frozen=True, slots=True)
class Column:
    module: str
    action: str
    record: str | None  # the record asked about (None: a new one)


@dataclass(frozen=True, slots=True)
class Cell:
    allowed: bool
    rules: tuple[str, ...]
    redacted: tuple[str, ...]
    query: dict[str, str]  # the explain page's query for this cell


@dataclass(frozen=True, slots=True)
class Seat:
    """What a user is in one product: `member` (with `role`), `integration user`, or `none`."""

    product: str  # its label, as the rule book names it (Books)
    kind: str
    role: str | None = None


@dataclass
class Row:
    user: str
    name: str
    seats: list[Seat]
    profile: str
    cells: list[Cell]


@dataclass
class Matrix:
    org: str
    channel: str
    modules: list[tuple[str, str | None, list[str]]]  # module, record asked about, actions
    statuses: dict[str, str]  # module -> the status of the record asked about
    others: dict[str, tuple[list[str], int]]  # module -> other records to ask about, how many more
    record: str  # the record asked for by name (`record=`), or "" for the module's first
    columns: list[Column]
    rows: list[Row]
    page: int
    pages: int
    users: int  # matching the filters, on every page
    filters: dict[str, str]
    choices: dict[str, list[str]]  # every value each filter can take in this org

    def codes(self) -> set[str]:
        """The rule codes this page shows: its legend explains these and no others."""
        return {r for row in self.rows for cell in row.cells for r in cell.rules}


def _representative(engine: Engine) -> dict[str, str | None]:
    """Per module, the record the matrix asks about: the org's first of that type (by id), or
    a record not created yet when the org holds none."""
    first: dict[str, str | None] = {m: None for m in engine.policies.catalogue.modules}
    for record in sorted(engine.org.records, key=lambda r: r.id):
        if first.get(record.type, "") is None:
            first[record.type] = record.id
    return first


def seats(engine: Engine, user: Any) -> list[Seat]:
    """One per product of the catalogue, a product the user has no seat in too: `none` is
    what D2 denies on, so it is shown rather than left out."""
    catalogue = engine.policies.catalogue
    roles = {m.product: m.role for m in user.memberships}
    enrolled = {e.product for e in user.enrolments}
    out = []
    for product in catalogue.products:
        label = catalogue.label(product)
        if product in roles:
            out.append(Seat(label, "member", roles[product]))
        else:
            out.append(Seat(label, "integration user" if product in enrolled else "none"))
    return out


def status(engine: Engine, record: Any) -> str:
    """The status D8 reads: a record without one is a draft if its module is a transaction,
    else active (as engine/core/model.py's default_status, which the core's door does not
    export)."""
    if record.status is not None:
        return str(record.status)
    return "draft" if engine.policies.catalogue.modules[record.type].transaction else "active"


def _filter_choices(engine: Engine) -> dict[str, list[str]]:
    users = engine.org.users
    return {
        "product": sorted(engine.policies.catalogue.products),
        "seat": ["member", "integration", "none"],
        "role": sorted({m.role for u in users for m in u.memberships}),
        "profile": sorted({u.profile for u in users}),
    }


def _check_filters(engine: Engine, filters: dict[str, str]) -> None:
    """A filter value the org cannot hold is a typo, not an empty matrix: named."""
    choices = _filter_choices(engine)
    for name, value in sorted(filters.items()):
        if value not in choices[name]:
            known = ", ".join(choices[name]) or "none"
            raise AuthzError(f"{name}: `{value}` is not one of {known} in org `{engine.org.id}`")


def _matches(user: Any, filters: dict[str, str]) -> bool:
    products = {m.product for m in user.memberships} | {e.product for e in user.enrolments}
    if filters.get("product") and filters["product"] not in products:
        return False
    if filters.get("seat"):
        seat = "member" if user.memberships else "integration" if user.enrolments else "none"
        if seat != filters["seat"]:
            return False
    if filters.get("role") and filters["role"] not in {m.role for m in user.memberships}:
        return False
    return not (filters.get("profile") and user.profile != filters["profile"])


# Other records of the module offered in its column header; beyond these, a user's own view
# lists every one
OTHERS = 10


def _asked_about(engine: Engine, module: str | None, record: str) -> dict[str, str | None]:
    """Per module, the record its columns ask about: the one named, else the first."""
    records = _representative(engine)
    if not record:
        return records
    if not module:
        raise AuthzError(f"record: `{record}` needs a module (one module's columns ask about it)")
    if not any(r.type == module and r.id == record for r in engine.org.records):
        raise AuthzError(
            f"record: `{record}` is not a record of module `{module}` in org `{engine.org.id}`"
        )
    return {**records, module: record}


def _others(engine: Engine, shown: list[str], asked: dict[str, str | None]) -> dict[str, Any]:
    """Per module shown, (the first OTHERS records not asked about, how many more)."""
    ids: dict[str, list[str]] = {m: [] for m in shown}
    for r in engine.org.records:
        if r.type in ids and r.id != asked[r.type]:
            ids[r.type].append(r.id)
    return {m: (sorted(v)[:OTHERS], max(0, len(v) - OTHERS)) for m, v in ids.items()}


def matrix(
    engine: Engine,
    channel: str,
    filters: dict[str, str],
    module: str | None,
    page: int,
    record: str = "",
) -> Matrix:
    if channel not in CHANNELS:
        raise AuthzError(f"channel: `{channel}` is not one of {', '.join(CHANNELS)}")
    catalogue = engine.policies.catalogue
    if module and module not in catalogue.modules:
        raise AuthzError(
            f"module: `{module}` is not a module (known: {', '.join(catalogue.modules)})"
        )
    _check_filters(engine, filters)
    records = _asked_about(engine, module, record)
    shown = [module] if module else list(catalogue.modules)
    columns = [
        Column(m, a, None if a == "create" else records[m]) for m in shown for a in RECORD_ACTIONS
    ]
    users = [u for u in engine.org.users if _matches(u, filters)]
    size = PAGE_SIZE if module else PAGE_SIZE_ALL
    pages = max(1, -(-len(users) // size))
    page = min(max(page, 1), pages)
    chosen = users[(page - 1) * size : page * size]
    asked = [
        Request(
            u.id,
            c.action,
            c.module,
            c.record,
            channel,
        )
        for u in chosen
        for c in columns
    ]
    decisions = engine.decide_many(asked, probe=False)
    rows = []
    for n, user in enumerate(chosen):
        cells = []
        for m, column in enumerate(columns):
            d = decisions[n * len(columns) + m]
            ask = asked[n * len(columns) + m]
            query = {
                "subject": user.id,
                "action": column.action,
                "resource": ask.resource,
                "channel": channel,
            }
            cells.append(Cell(d.allowed, d.rules, d.redact_fields, query))
        rows.append(Row(user.id, user.name, seats(engine, user), user.profile, cells))
    by_id: dict[tuple[str, str], Any] = {(r.type, r.id): r for r in engine.org.records}
    return Matrix(
        engine.org.id,
        channel,
        [(m, records[m], list(RECORD_ACTIONS)) for m in shown],
        {m: status(engine, by_id[(m, rid)]) for m in shown if (rid := records[m]) is not None},
        _others(engine, shown, records),
        record,
        columns,
        rows,
        page,
        pages,
        len(users),
        filters,
        _filter_choices(engine),
    )


# -- one request ----------------------------------------------------------------------------


@dataclass
class Asked:
    """The explain form's fields, as given (strings), and the AuthZEN evaluation they make."""

    subject: str = ""
    action: str = ""
    resource: str = ""
    channel: str = "crm"
    fields: str = ""  # comma-separated
    acting_as: str = ""
    sender: str = ""

    def empty(self) -> bool:
        return not (self.subject or self.action or self.resource)

    def problem(self) -> str | None:
        """What is missing or malformed in the form, named by its field (the AuthZEN JSON
        paths it would make are not what the admin typed)."""
        for name in ("subject", "action", "resource"):
            if not getattr(self, name):
                return f"{name}: missing (a user, an action and a record are needed)"
        kind, sep, ident = self.resource.partition(":")
        if not kind or (sep and not ident):
            return (
                f"resource: `{self.resource}` is not a record (TYPE:ID, as `estimate:est-1`) "
                "nor a type for a new one (`estimate`)"
            )
        if self.channel not in CHANNELS:
            return f"channel: `{self.channel}` is not one of {', '.join(CHANNELS)}"
        return None

    def evaluation(self, org: str) -> dict[str, Any]:
        kind, _, ident = self.resource.partition(":")
        resource: dict[str, Any] = {"type": kind, "id": ident or NEW_RECORD_ID}
        touched = [f.strip() for f in self.fields.split(",") if f.strip()]
        if touched:
            resource["properties"] = {"fields": touched}
        context: dict[str, Any] = {"org": org, "explain": True}
        if self.channel != "crm":
            context["channel"] = self.channel
        for key in ("acting_as", "sender"):
            if getattr(self, key):
                context[key] = getattr(self, key)
        return {
            "subject": {"type": "user", "id": self.subject},
            "action": {"name": self.action},
            "resource": resource,
            "context": context,
        }

    def command(self, org: str, served: list[str]) -> str:
        """The same question as an `authz explain` command line, over the same store and
        policy set as this server (`served`: the flags that name them), so that it answers
        exactly what the page answered."""
        words = ["authz", "explain", "--org", org, *served, "--subject", self.subject,
                 "--action", self.action, "--resource", self.resource]  # fmt: skip
        if self.channel != "crm":
            words += ["--channel", self.channel]
        for f in (f.strip() for f in self.fields.split(",")):
            if f:
                words += ["--field", f]
        for key in ("acting_as", "sender"):
            if getattr(self, key):
                words += ["--context", f"{key}={getattr(self, key)}"]
        return shlex.join(words)


@dataclass
class Explained:
    asked: Asked
    evaluation: str  # AuthZEN JSON, pretty
    command: str
    answer: dict[str, Any] | None = None  # the decision's explanation (decision_body's context)
    allowed: bool = False
    error: str | None = None  # bad input: what is wrong, with did-you-mean


# -- a policy change ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Side:
    """A policy set to compare: `store:VERSION`, `history:NAME` or `shipped`."""

    key: str
    label: str


def sides(store: OrgStore) -> list[Side]:
    out = [Side("shipped", "the set shipped with authz (current)")]
    out += [Side(f"history:{name}", f"shipped history: {name}") for name in history_names()]
    for v in policy_versions(store):
        active = ", active" if v.active else ""
        out.append(Side(f"store:{v.version}", f"published {v.version} ({v.published_at}{active})"))
    return out


def side_set(store: OrgStore, key: str) -> PolicySet:
    """A side the page offers (`shipped`, `history:NAME`, `store:VERSION`), resolved as every
    door resolves a set; a directory or a git revision is not the page's to read."""
    ref = PolicyRef.parse(key)
    if ref.kind not in (Source.SHIPPED, Source.HISTORY, Source.STORED):
        raise AuthzError(f"`{key}`: not a policy set to compare (pick one from the list)")
    return resolve_policies(ref, store).policies


@dataclass
class PolicyChange:
    base: str
    head: str
    compared: int
    widenings: list[dict[str, Any]] = field(default_factory=list)
    narrowings: list[dict[str, Any]] = field(default_factory=list)
    non_member_gain: bool = False
    any_widening: bool = False


@dataclass(frozen=True)
class DiffQuestion:
    """Two sides to compare, resolved, with the served orgs' snapshots (id -> text), and the
    key under which their comparison is kept: whatever could change the answer."""

    base: str
    head: str
    old: PolicySet
    new: PolicySet
    orgs: dict[str, str]

    @property
    def key(self) -> tuple[object, ...]:
        digests = tuple(
            (org, hashlib.sha256(text.encode()).hexdigest())
            for org, text in sorted(self.orgs.items())
        )
        return (self.base, self.head, self.old.version, self.new.version, digests)


def diff_question(store: OrgStore, base: str, head: str, served: list[str]) -> DiffQuestion:
    """The sides resolved (cheap: tens of ms) and the served orgs' current text read: bad
    input is named here, before anything costly is started."""
    old, new = side_set(store, base), side_set(store, head)
    return DiffQuestion(base, head, old, new, served_texts(store, served))


def policy_change(asked: DiffQuestion) -> PolicyChange:
    """`authz diff`'s report between two sets, over the demo org, the served orgs and the
    coverage org."""
    new = asked.new
    orgs = default_orgs(new, sorted(asked.orgs.items()))
    report = semantic_diff(asked.old, new, orgs, asked.base, asked.head)
    out = PolicyChange(asked.base, asked.head, report.compared)
    for group in report.groups:
        row = {
            **group.to_dict(),
            "non_member": group.non_member,
            "example_json": json.dumps(group.example, indent=2),
        }
        (out.widenings if group.widening else out.narrowings).append(row)
        out.any_widening |= group.widening
        out.non_member_gain |= group.widening and group.non_member
    return out


# -- a migration ----------------------------------------------------------------------------


def migration(
    store: OrgStore, policies: PolicySet, org: str, usage: str | None, as_of: Any
) -> dict[str, Any]:
    """The plan and its impact, as `authz migrate plan --impact --format json` gives them."""
    made = plan_org(store, policies, org, usage or None, as_of, True)
    made["command"] = shlex.join(
        ["authz", "migrate", "apply", "--org", org, "--plan", "plan.json", "--as", "ADMIN"]
    )
    made["plan_command"] = shlex.join(
        [
            "authz",
            "migrate",
            "plan",
            "--org",
            org,
            "--usage",
            "usage.csv",
            "--as-of",
            str(made["as_of"]),
            "--out",
            "plan.json",
        ]
    )
    return made


def served_texts(store: OrgStore, ids: list[str]) -> dict[str, str]:
    return {i: store.snapshot(i)[1] for i in ids}
