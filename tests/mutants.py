"""Seeded random edits of a policy set, made over Cedar's JSON policy form: the mutants of the
prover's soundness test (tests/property/test_prover_mutants.py).

A set's `.cedar` files are read as JSON (cedarpy `policies_to_json_str`), one policy is edited
as JSON, and each file an edit touched is rendered back to Cedar text
(`policies_from_json_str`, then `format_policies`) into a copy of the set in a temporary
directory, which `engine.policies.load_policies` must then accept (strict validation) and
`engine.lint` must find nothing in; a mutant that either refuses is discarded and counted.

The edits (`Mutator.EDITS`): a conjunct or a disjunct added to a `when` / `unless` (or a new one) or
dropped from anywhere in it, a condition dropped or turned around (`when` <-> `unless`), a
negation added or removed, an operator flipped (`==` <-> `!=`, `<` <-> `<=`, `&&` <-> `||`,
...), a literal swapped for another of its kind, a path re-rooted from the principal to a
related entity (`resource.submitted_by`, `context.acting_as`, an enrolment's user), the
action, resource-type or principal scope changed, a policy dropped, and new permits and
forbids. What an added condition says (`ATOMS`) is drawn from presence tests (`resource has
title`, `context has product`, `principal has books`, attributes a type does not have
included), comparisons with named entities (`principal == User::"asha"`,
`principal.books.role == Role::"books-clerk"`) and with literals (`principal.email ==
"fay@demo.example"`, `resource.title == "..."`, `resource.status == "..."`), set comparisons,
and paths through related entities (`resource.submitted_by.crm_admin`,
`context.acting_as.email`), and two constructs outside today's encoding (`like`,
`is ... in`) that the prover must refuse by name, using the ids and strings of the example
orgs (the demo org first) and a few that no org holds. The prover's known holes H1-H7
(tests/unit/test_prover_holes.py) are each one of these (`known_holes` makes them).

For the concrete side, `plant` makes an org hold the literals a mutant mentions (users named
as the mutant names them, its roles, profiles, emails, titles, statuses, limits), and
`requests_for` widens the crosscheck's request space with what a mutant can tell apart and the
shipped set cannot (every enrolment target, two-field edits, claims naming every user).
"""

from __future__ import annotations

import copy
import json
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from suite_authz.engine.core.catalogue import ACTIONS, RECORD_ACTIONS, Catalogue
from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.model import Org
from suite_authz.engine.core.policies import RULES, PolicySet, load_policies
from suite_authz.engine.core.policy_files import CATALOGUE_FILE, SCHEMA_FILE
from suite_authz.engine.core.request import Request
from suite_authz.engine.review.crosscheck import request_space
from suite_authz.engine.review.lint import lint_source
from suite_authz.engine.review.scope import scope_actions

Est = dict[str, Any]  # one policy, as Cedar's JSON (EST)
Expr = dict[str, Any]  # one expression of a policy's condition, as Cedar's JSON
Files = dict[str, list[Est]]  # a set's `.cedar` files: file name -> its policies, in order

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLE_ORGS = (
    POLICIES / "examples" / "demo-org.json",
    POLICIES / "examples" / "legacy-org.json",
    POLICIES / "tests" / "rulings-org.json",
)
NEW_FILE = "mutant.cedar"  # where new permits and forbids go

STATUSES = ("draft", "pending_approval", "approved", "void", "active")
EDITIONS = ("free", "standard", "professional", "enterprise", "ultimate")
DATA_CENTRES = ("US", "EU", "IN", "AU", "JP", "CA", "UK", "SA", "AE", "CN")
PRODUCTS = ("books", "subscriptions")
RECORD_TYPES = (
    "Estimate",
    "SalesOrder",
    "Invoice",
    "PurchaseOrder",
    "Item",
    "Customer",
    "Subscription",
    "Report",
    "Dashboard",
)
# Strings and ids no example org holds: a mutant may name what no org has
FRESH_USER = "zed"
FRESH_EMAIL = "zed@elsewhere.example"
FRESH_TEXT = "Quarterly Close"
FRESH_ROLE = "books-auditor"
FRESH_PROFILE = "support"

# The operators whose value is a boolean, and the attributes that are booleans.
BOOLEAN_OPS = frozenset(
    ("==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "has", "in", "is", "like")
) | frozenset(("contains", "containsAll", "containsAny"))
BOOLEAN_ATTRS = frozenset(("crm_admin", "member", "approval", "new_org"))
FLIPS = {
    "==": "!=",
    "!=": "==",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "&&": "||",
    "||": "&&",
    "containsAny": "containsAll",
    "containsAll": "containsAny",
}


# -- the set as JSON, and back to text ---------------------------------------------------------


@dataclass(frozen=True)
class PolicyFiles:
    """A policy set's `.cedar` files, as texts and as JSON."""

    directory: Path
    texts: dict[str, str]
    files: Files

    @classmethod
    def read(cls, directory: Path = POLICIES) -> PolicyFiles:
        texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.cedar"))}
        return cls(directory, texts, {name: parse_file(text) for name, text in texts.items()})

    def policy(self, pid: str) -> tuple[str, int]:
        """(file, position) of the policy with @id `pid`."""
        for name, policies in self.files.items():
            for n, est in enumerate(policies):
                if est.get("annotations", {}).get("id") == pid:
                    return name, n
        raise KeyError(pid)


def parse_file(text: str) -> list[Est]:
    data = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]
    return [data[k] for k in sorted(data, key=lambda k: int(k.removeprefix("policy")))]


def render(policies: list[Est]) -> str:
    """Cedar text of policies given as JSON, formatted."""
    static = {f"policy{n}": est for n, est in enumerate(policies)}
    text = cedarpy.policies_from_json_str(
        json.dumps({"staticPolicies": static, "templates": {}, "templateLinks": []})
    )
    return str(cedarpy.format_policies(text))


def expr(text: str) -> Expr:
    """A condition's JSON from its Cedar text."""
    est = parse_file(f"permit (principal, action, resource) when {{ {text} }};")[0]
    body: Expr = est["conditions"][0]["body"]
    return body


def expr_text(node: Expr) -> str:
    """A condition's Cedar text, on one line."""
    est = {
        "effect": "permit",
        "principal": {"op": "All"},
        "action": {"op": "All"},
        "resource": {"op": "All"},
        "conditions": [{"kind": "when", "body": node}],
    }
    text = cedarpy.policies_from_json_str(
        json.dumps({"staticPolicies": {"p": est}, "templates": {}, "templateLinks": []})
    )
    inner = str(text).split(" when { ", 1)[1].rsplit(" };", 1)[0]
    return _unwrap(inner)


def policy_text(est: Est) -> str:
    """A policy's Cedar text without its annotations, on one line."""
    bare = {k: v for k, v in est.items() if k != "annotations"}
    text = cedarpy.policies_from_json_str(
        json.dumps({"staticPolicies": {"p": bare}, "templates": {}, "templateLinks": []})
    )
    return " ".join(str(text).split())


def _unwrap(text: str) -> str:
    """`(a)` -> `a` where the parentheses enclose the whole text."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for n, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if depth == 0 and n < len(text) - 1:
                return text
        text = text[1:-1]
    return text


def write_set(files: Files, touched: frozenset[str], into: Path, shipped: PolicyFiles) -> Path:
    """A policy directory in `into`: the shipped schema and catalogue, its untouched `.cedar`
    texts as they are, the touched files rendered from their JSON. No Polar files: the
    Polar encoding of the shipped set says nothing about a mutant."""
    into.mkdir(parents=True, exist_ok=True)
    for name in (SCHEMA_FILE, CATALOGUE_FILE):
        shutil.copyfile(shipped.directory / name, into / name)
    for name, policies in files.items():
        if not policies:
            continue
        text = render(policies) if name in touched else shipped.texts[name]
        (into / name).write_text(text, encoding="utf-8")
    return into


# -- what a mutant may name -----------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """The ids and strings of the example orgs (the demo org first), and some no org holds."""

    users: tuple[str, ...]
    emails: tuple[str, ...]
    roles: dict[str, tuple[str, ...]]  # product -> role ids
    profiles: tuple[str, ...]
    orgs: tuple[str, ...]
    records: tuple[tuple[str, str], ...]  # (entity type, id)
    titles: tuple[str, ...]
    folders: tuple[str, ...]
    modules: tuple[str, ...]
    fields: tuple[str, ...]  # qualified: "invoice.discount"

    @classmethod
    def of(cls, orgs: list[dict[str, Any]], catalogue: Catalogue) -> Vocabulary:
        def unique(items: Iterator[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(items))

        entity = {m: info.entity for m, info in catalogue.modules.items()}
        return cls(
            users=unique(iter([*(u["id"] for o in orgs for u in o["users"]), FRESH_USER])),
            emails=unique(iter([*(u["email"] for o in orgs for u in o["users"]), FRESH_EMAIL])),
            roles={
                p: unique(
                    iter(
                        [
                            *(r["id"] for o in orgs for r in o["roles"] if r["product"] == p),
                            *([FRESH_ROLE] if p == "books" else []),
                        ]
                    )
                )
                for p in PRODUCTS
            },
            profiles=unique(iter([*(p["id"] for o in orgs for p in o["profiles"]), FRESH_PROFILE])),
            orgs=unique(iter([*(o["id"] for o in orgs), "elsewhere"])),
            records=tuple(
                dict.fromkeys((entity[r["type"]], r["id"]) for o in orgs for r in o["records"])
            ),
            titles=unique(
                iter(
                    [*(r["title"] for o in orgs for r in o["records"] if "title" in r), FRESH_TEXT]
                )
            ),
            folders=unique(
                iter([*(r["folder"] for o in orgs for r in o["records"] if "folder" in r)])
            ),
            modules=tuple(catalogue.modules),
            fields=tuple(f"{m}.{f}" for m, info in catalogue.modules.items() for f in info.fields),
        )


def example_orgs() -> list[dict[str, Any]]:
    orgs: list[dict[str, Any]] = []
    for path in EXAMPLE_ORGS:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        orgs.append(data)
    return orgs


# -- conditions a mutant adds -------------------------------------------------------------------

Atom = Callable[[random.Random, Vocabulary], str]


def _q(value: str) -> str:
    return json.dumps(value)


def _seat(rng: random.Random) -> str:
    return rng.choice(PRODUCTS)


def _has(rng: random.Random, v: Vocabulary) -> str:
    return rng.choice(
        [
            f"resource has {rng.choice(('title', 'folder', 'submitted_by', 'status'))}",
            f"resource has {rng.choice(('books', 'crm_admin', 'email', 'new_org', 'title'))}",
            f"context has {rng.choice(('acting_as', 'sender', 'product', 'enrolments'))}",
            f"context has {rng.choice(('fields', 'channel', 'product'))}",
            f"principal has {_seat(rng)}",
            f"context has acting_as && context.acting_as has {_seat(rng)}",
            f"resource has submitted_by && resource.submitted_by has {_seat(rng)}",
        ]
    )


def _entity(rng: random.Random, v: Vocabulary) -> str:
    p = _seat(rng)
    kind, rid = rng.choice(v.records)
    return rng.choice(
        [
            f"principal == User::{_q(rng.choice(v.users))}",
            f"principal != User::{_q(rng.choice(v.users))}",
            f"principal has {p} && principal.{p}.role == Role::{_q(rng.choice(v.roles[p]))}",
            f"principal.profile == Profile::{_q(rng.choice(v.profiles))}",
            f"principal.org == Org::{_q(rng.choice(v.orgs))}",
            f"resource == {kind}::{_q(rid)}",
            f"resource has module && resource.module == Module::{_q(rng.choice(v.modules))}",
            f"context has acting_as && context.acting_as == User::{_q(rng.choice(v.users))}",
            "resource has submitted_by && resource.submitted_by == "
            f"User::{_q(rng.choice(v.users))}",
            f"principal in Product::{_q(p)}",
            f"resource in Product::{_q(p)}",
            f"context has product && context.product == Product::{_q(p)}",
            f"principal is User in Product::{_q(p)}",  # outside today's encoding: refused
        ]
    )


def _literal(rng: random.Random, v: Vocabulary) -> str:
    p = _seat(rng)
    n = rng.choice((0, 1, 2, 3, 5, 1000))
    module = rng.choice(v.modules)
    return rng.choice(
        [
            f"principal.email == {_q(rng.choice(v.emails))}",
            f"principal.email != {_q(rng.choice(v.emails))}",
            'principal.email like "*@demo.example"',  # outside today's encoding: refused
            f"resource has title && resource.title == {_q(rng.choice(v.titles))}",
            f"resource has folder && resource.folder == {_q(rng.choice(v.folders))}",
            f"resource has status && resource.status == {_q(rng.choice(STATUSES))}",
            f"context.channel == {_q(rng.choice(('crm', 'direct')))}",
            f"context has sender && context.sender == {_q(rng.choice(v.emails))}",
            f"principal.org.edition == {_q(rng.choice(EDITIONS))}",
            f"principal.org.data_centre == {_q(rng.choice(DATA_CENTRES))}",
            f"principal.org.integration_users > {n}",
            f"principal.org.integration_user_limit <= {n}",
            f"context has enrolments && context.enrolments >= {n}",
            f"context has fields && context.fields == [{_q(rng.choice(v.fields))}]",
            "context has fields && context.fields != []",
            f"context has fields && context.fields.contains({_q(rng.choice(v.fields))})",
            f"principal has {p} && principal.{p}.role.hidden_fields != []",
            f"principal has {p} && principal.{p}.role.readonly_fields"
            f".contains({_q(rng.choice(v.fields))})",
            f"principal has {p} && principal.{p}.role.grants.contains("
            f"{{module: Module::{_q(module)}, action: Action::{_q(rng.choice(RECORD_ACTIONS))}}})",
            f"resource has module && resource.module.products == [Product::{_q(p)}]",
        ]
    )


def _related(rng: random.Random, v: Vocabulary) -> str:
    p = _seat(rng)
    return rng.choice(
        [
            "resource has submitted_by && resource.submitted_by.crm_admin",
            "resource has submitted_by && resource.submitted_by.email == "
            f"{_q(rng.choice(v.emails))}",
            f"resource has submitted_by && resource.submitted_by has {p} && "
            f"resource.submitted_by.{p}.member",
            f"resource has submitted_by && resource.submitted_by.profile == "
            f"Profile::{_q(rng.choice(v.profiles))}",
            "resource has submitted_by && resource.submitted_by.org.new_org",
            f"context has acting_as && context.acting_as.email == {_q(rng.choice(v.emails))}",
            "context has acting_as && context.acting_as.crm_admin",
            f"context has acting_as && context.acting_as has {p} && "
            f"context.acting_as.{p}.role == Role::{_q(rng.choice(v.roles[p]))}",
            "resource has crm_admin && resource.crm_admin",
            f"resource has email && resource.email == {_q(rng.choice(v.emails))}",
            f"resource has {p} && resource.{p}.role == Role::{_q(rng.choice(v.roles[p]))}",
            f"resource has profile && resource.profile.allows.contains("
            f'{{module: Module::{_q(rng.choice(v.modules))}, action: Action::"view"}})',
        ]
    )


ATOMS: dict[str, Atom] = {
    "has": _has,
    "entity": _entity,
    "literal": _literal,
    "related": _related,
}


# -- walking and editing expressions -------------------------------------------------------------

Path_ = tuple[Any, ...]  # keys from a condition body down to a node


def _children(node: Expr) -> Iterator[tuple[Any, Expr]]:
    ((op, arg),) = node.items()
    if op in ("Value", "Var"):
        return
    if op == "Set":
        for n, item in enumerate(arg):
            yield (op, n), item
    elif op == "Record":
        for k, item in arg.items():
            yield (op, k), item
    else:
        for k in ("left", "right", "arg", "if", "then", "else"):
            if isinstance(arg, dict) and k in arg:
                yield (op, k), arg[k]


def nodes(node: Expr, path: Path_ = ()) -> Iterator[tuple[Path_, Expr]]:
    yield path, node
    for step, child in _children(node):
        yield from nodes(child, (*path, step))


def get_at(node: Expr, path: Path_) -> Expr:
    for op, key in path:
        node = node[op][key]
    return node


def replace_at(node: Expr, path: Path_, new: Expr) -> Expr:
    if not path:
        return new
    out = copy.deepcopy(node)
    parent = out
    for op, key in path[:-1]:
        parent = parent[op][key]
    op, key = path[-1]
    parent[op][key] = new
    return out


def is_boolean(node: Expr) -> bool:
    ((op, arg),) = node.items()
    if op in BOOLEAN_OPS:
        return True
    if op == ".":
        return str(arg["attr"]) in BOOLEAN_ATTRS
    return op == "Value" and isinstance(arg, bool)


def _and(a: Expr, b: Expr) -> Expr:
    return {"&&": {"left": a, "right": b}}


def _or(a: Expr, b: Expr) -> Expr:
    return {"||": {"left": a, "right": b}}


def _not(a: Expr) -> Expr:
    return {"!": {"arg": a}}


# -- mutants ------------------------------------------------------------------------------------


@dataclass
class Mutant:
    """An edit of the shipped set (`base` None), or of a set given as `base`."""

    number: int
    kind: str  # the edit, then what it added: `add-conjunct/has`
    description: str  # one line
    files: Files
    touched: frozenset[str]
    base: Files | None = None
    base_touched: frozenset[str] = frozenset()
    name: str = ""  # the known hole it reproduces (H1 ...), if any

    def label(self) -> str:
        tag = self.name or f"mutant {self.number}"
        return f"{tag} [{self.kind}]: {self.description}"


@dataclass
class Built:
    """A mutant loaded: its policy sets, base and head."""

    mutant: Mutant
    base: PolicySet
    head: PolicySet


@dataclass
class Tally:
    """What became of the candidates."""

    made: int = 0
    invalid: int = 0  # load_policies refused it (strict validation, annotations)
    linted: int = 0  # lint found something
    same: int = 0  # the edit changed no policy's JSON
    reasons: dict[str, int] = field(default_factory=dict)


def build(
    mutant: Mutant, workdir: Path, shipped: PolicyFiles, shipped_set: PolicySet
) -> Built | str:
    """The mutant's sets loaded as the engine loads a set, or why it is discarded."""
    head_dir = workdir / f"m{mutant.number}"
    base_dir = workdir / f"b{mutant.number}"
    try:
        try:
            head = load_policies(write_set(mutant.files, mutant.touched, head_dir, shipped))
        except PolicyError as exc:
            return f"invalid: {str(exc).splitlines()[-1].strip()}"
        findings = lint_source(head.source) if head.source is not None else []
        if findings:
            return f"lint: {findings[0]}"
        base = shipped_set
        if mutant.base is not None:
            base = load_policies(write_set(mutant.base, mutant.base_touched, base_dir, shipped))
    finally:  # a set loaded is held in memory: its directory is no longer needed
        shutil.rmtree(head_dir, ignore_errors=True)
        shutil.rmtree(base_dir, ignore_errors=True)
    if base.deciding == head.deciding and base.obligations == head.obligations:
        return "same: no policy changed"
    return Built(mutant, base, head)


class Mutator:
    """Seeded random edits of `shipped`: `Mutator(shipped, vocabulary, seed).mutants()` yields
    candidates, numbered from 0, each to be built (`build`) and discarded if it does not load
    or lint."""

    EDITS: tuple[tuple[str, int], ...] = (
        ("add-conjunct", 6),
        ("add-disjunct", 2),
        ("drop-conjunct", 2),
        ("drop-disjunct", 2),
        ("drop-condition", 1),
        ("negate", 2),
        ("flip-operator", 2),
        ("swap-literal", 2),
        ("flip-condition", 1),
        ("re-root", 2),
        ("action-scope", 2),
        ("resource-scope", 2),
        ("principal-scope", 2),
        ("drop-policy", 1),
        ("new-permit", 5),
        ("new-forbid", 4),
    )

    def __init__(self, shipped: PolicyFiles, vocabulary: Vocabulary, seed: int) -> None:
        self.shipped = shipped
        self.vocabulary = vocabulary
        self.rng = random.Random(seed)
        self.keys = [
            (name, n) for name, policies in shipped.files.items() for n in range(len(policies))
        ]

    def mutants(self) -> Iterator[Mutant]:
        number = 0
        edits, weights = zip(*self.EDITS, strict=True)
        while True:
            edit = self.rng.choices(edits, weights)[0]
            made = self.make(edit, number)
            if made is not None:
                yield made
                number += 1

    def make(self, edit: str, number: int) -> Mutant | None:
        files = copy.deepcopy(self.shipped.files)
        if edit in ("new-permit", "new-forbid"):
            effect = edit.removeprefix("new-")
            est, what = self.new_policy(effect, number)
            files.setdefault(NEW_FILE, []).append(est)
            return Mutant(
                number, f"{edit}/{what}", f"add `{policy_text(est)}`", files, frozenset((NEW_FILE,))
            )
        name, n = self.rng.choice(self.keys)
        est = files[name][n]
        pid = est["annotations"].get("id", f"{name}#{n}")
        if edit == "drop-policy":
            del files[name][n]
            return Mutant(number, edit, f"drop policy `{pid}`", files, frozenset((name,)))
        result = getattr(self, "_" + edit.replace("-", "_"))(est)
        if result is None:
            return None
        new, kind, words = result
        files[name][n] = new
        return Mutant(number, kind, f"policy `{pid}`: {words}", files, frozenset((name,)))

    # the edits of one policy: (new est, kind, words) or None where it does not apply
    def atom(self) -> tuple[str, Expr]:
        what = self.rng.choice(tuple(ATOMS))
        text = ATOMS[what](self.rng, self.vocabulary)
        node = expr(text)
        if self.rng.random() < 0.2:
            node = _not(node)
        return what, node

    def _add_conjunct(self, est: Est) -> tuple[Est, str, str] | None:
        return self._add(est, "add-conjunct", _and)

    def _add_disjunct(self, est: Est) -> tuple[Est, str, str] | None:
        return self._add(est, "add-disjunct", _or)

    def _add(
        self, est: Est, edit: str, join: Callable[[Expr, Expr], Expr]
    ) -> tuple[Est, str, str] | None:
        what, node = self.atom()
        new = copy.deepcopy(est)
        conditions = new.setdefault("conditions", [])
        if not conditions or self.rng.random() < 0.15:
            kind = self.rng.choice(("when", "unless")) if conditions else "when"
            conditions.append({"kind": kind, "body": node})
            return new, f"{edit}/{what}", f"gains `{kind} {{ {expr_text(node)} }}`"
        c = self.rng.randrange(len(conditions))
        body = conditions[c]["body"]
        first = self.rng.random() < 0.5
        conditions[c]["body"] = join(node, body) if first else join(body, node)
        word = "conjunct" if join is _and else "disjunct"
        return (
            new,
            f"{edit}/{what}",
            f"{conditions[c]['kind']} gains {word} `{expr_text(node)}`"
            + (" first" if first else " last"),
        )

    def _drop_conjunct(self, est: Est) -> tuple[Est, str, str] | None:
        return self._drop(est, "&&", "drop-conjunct")

    def _drop_disjunct(self, est: Est) -> tuple[Est, str, str] | None:
        return self._drop(est, "||", "drop-disjunct")

    def _drop(self, est: Est, op: str, edit: str) -> tuple[Est, str, str] | None:
        places = [
            (c, path, node)
            for c, cond in enumerate(est.get("conditions", []))
            for path, node in nodes(cond["body"])
            if op in node
        ]
        if not places:
            return None
        c, path, node = self.rng.choice(places)
        side = self.rng.choice(("left", "right"))
        dropped = node[op]["right" if side == "left" else "left"]
        new = copy.deepcopy(est)
        new["conditions"][c]["body"] = replace_at(
            new["conditions"][c]["body"], path, node[op][side]
        )
        return new, edit, f"{new['conditions'][c]['kind']} loses `{expr_text(dropped)}`"

    def _drop_condition(self, est: Est) -> tuple[Est, str, str] | None:
        conditions = est.get("conditions", [])
        if not conditions:
            return None
        c = self.rng.randrange(len(conditions))
        new = copy.deepcopy(est)
        gone = new["conditions"].pop(c)
        return new, "drop-condition", f"loses `{gone['kind']} {{ {expr_text(gone['body'])} }}`"

    def _flip_condition(self, est: Est) -> tuple[Est, str, str] | None:
        conditions = est.get("conditions", [])
        if not conditions:
            return None
        c = self.rng.randrange(len(conditions))
        new = copy.deepcopy(est)
        kind = new["conditions"][c]["kind"]
        other = "unless" if kind == "when" else "when"
        new["conditions"][c]["kind"] = other
        body = expr_text(new["conditions"][c]["body"])
        return new, "flip-condition", f"`{kind} {{ {body} }}` becomes `{other} {{ {body} }}`"

    def _pick(self, est: Est, accept: Callable[[Expr], bool]) -> tuple[int, Path_, Expr] | None:
        places = [
            (c, path, node)
            for c, cond in enumerate(est.get("conditions", []))
            for path, node in nodes(cond["body"])
            if accept(node)
        ]
        return self.rng.choice(places) if places else None

    def _negate(self, est: Est) -> tuple[Est, str, str] | None:
        found = self._pick(est, is_boolean)
        if found is None:
            return None
        c, path, node = found
        new = copy.deepcopy(est)
        if "!" in node and self.rng.random() < 0.5:
            replaced, words = node["!"]["arg"], f"`{expr_text(node)}` loses its negation"
        else:
            replaced, words = _not(node), f"`{expr_text(node)}` negated"
        new["conditions"][c]["body"] = replace_at(new["conditions"][c]["body"], path, replaced)
        return new, "negate", words

    def _flip_operator(self, est: Est) -> tuple[Est, str, str] | None:
        found = self._pick(est, lambda node: next(iter(node)) in FLIPS)
        if found is None:
            return None
        c, path, node = found
        ((op, arg),) = node.items()
        replaced = {FLIPS[op]: arg}
        new = copy.deepcopy(est)
        new["conditions"][c]["body"] = replace_at(new["conditions"][c]["body"], path, replaced)
        return new, "flip-operator", f"`{expr_text(node)}` becomes `{expr_text(replaced)}`"

    def _swap_literal(self, est: Est) -> tuple[Est, str, str] | None:
        found = self._pick(est, lambda node: "Value" in node)
        if found is None:
            return None
        c, path, node = found
        value = node["Value"]
        swapped = self._other_value(value)
        if swapped is None or swapped == value:
            return None
        replaced = {"Value": swapped}
        new = copy.deepcopy(est)
        new["conditions"][c]["body"] = replace_at(new["conditions"][c]["body"], path, replaced)
        return new, "swap-literal", f"`{expr_text(node)}` becomes `{expr_text(replaced)}`"

    def _other_value(self, value: Any) -> Any:
        v, rng = self.vocabulary, self.rng
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            return max(0, value + rng.choice((-1, 1, 999)))
        if isinstance(value, str):
            pool = next(
                (
                    p
                    for p in (STATUSES, EDITIONS, DATA_CENTRES, v.titles, v.folders, v.fields)
                    if value in p
                ),
                (*v.titles, *v.emails, "crm", "direct"),
            )
            return rng.choice(pool)
        if isinstance(value, dict) and "__entity" in value:
            kind, eid = value["__entity"]["type"], value["__entity"]["id"]
            ids = {
                "Product": PRODUCTS,
                "Module": v.modules,
                "Action": ACTIONS,
                "User": v.users,
                "Role": (*v.roles["books"], *v.roles["subscriptions"]),
                "Profile": v.profiles,
            }.get(kind)
            if ids is None:
                return None
            return {"__entity": {"type": kind, "id": rng.choice([i for i in ids if i != eid])}}
        if isinstance(value, list) and value:
            out = list(value)
            if rng.random() < 0.5 and len(out) > 1:
                out.pop(rng.randrange(len(out)))
            else:
                extra = self._other_value(rng.choice(out))
                if extra is None:
                    return None
                out.append(extra)
            return out
        return None

    def _re_root(self, est: Est) -> tuple[Est, str, str] | None:
        """A path from the principal now starts at a related entity: its submitter, the user
        acted as, the user enrolled."""
        found = self._pick(
            est, lambda node: "." in node and node["."]["left"] == {"Var": "principal"}
        )
        if found is None:
            return None
        c, path, node = found
        root, guard = self.rng.choice(
            (
                ("resource.submitted_by", "resource has submitted_by"),
                ("context.acting_as", "context has acting_as"),
                ("resource", f"resource has {node['.']['attr']}"),
            )
        )
        left = expr(root) if "." in root else {"Var": root}
        replaced = {".": {"left": left, "attr": node["."]["attr"]}}
        new = copy.deepcopy(est)
        body = replace_at(new["conditions"][c]["body"], path, replaced)
        new["conditions"][c]["body"] = _and(expr(guard), body)
        return (
            new,
            "re-root",
            f"`{expr_text(node)}` becomes `{expr_text(replaced)}` (guarded by `{guard}`)",
        )

    def _action_scope(self, est: Est) -> tuple[Est, str, str] | None:
        new = copy.deepcopy(est)
        new["action"] = self.action_scope()
        if new["action"] == est["action"]:
            return None
        return (
            new,
            "action-scope",
            f"action scope `{_scope_text(est, 'action')}` becomes `{_scope_text(new, 'action')}`",
        )

    def _resource_scope(self, est: Est) -> tuple[Est, str, str] | None:
        new = copy.deepcopy(est)
        new["resource"] = self.resource_scope(est["action"], always=True)
        if new["resource"] == est["resource"]:
            return None
        return (
            new,
            "resource-scope",
            f"resource scope `{_scope_text(est, 'resource')}` becomes "
            f"`{_scope_text(new, 'resource')}`",
        )

    def _principal_scope(self, est: Est) -> tuple[Est, str, str] | None:
        new = copy.deepcopy(est)
        new["principal"] = self.principal_scope(always=True)
        if new["principal"] == est["principal"]:
            return None
        return (
            new,
            "principal-scope",
            f"principal scope `{_scope_text(est, 'principal')}` becomes "
            f"`{_scope_text(new, 'principal')}`",
        )

    # -- scopes and new policies ---------------------------------------------------------------
    def action_scope(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return {"op": "All"}
        if roll < 0.55:
            return {"op": "==", "entity": {"type": "Action", "id": rng.choice(ACTIONS)}}
        if roll < 0.85:
            chosen = rng.sample(ACTIONS, rng.randint(2, 3))
            return {"op": "in", "entities": [{"type": "Action", "id": a} for a in chosen]}
        return {"op": "in", "entity": {"type": "Action", "id": "record_action"}}

    def resource_scope(self, action: dict[str, Any], always: bool = False) -> dict[str, Any]:
        rng = self.rng
        if not always and rng.random() < 0.5:
            return {"op": "All"}
        acts = scope_actions(action)
        if acts <= {"enrol_integration_user"}:
            types: tuple[str, ...] = ("User",)
        elif acts <= {"run_migration"}:
            types = ("Org",)
        else:
            types = RECORD_TYPES
        if rng.random() < 0.1:
            types = (*RECORD_TYPES, "User", "Org")
        if always and rng.random() < 0.2:
            return {"op": "All"}
        if rng.random() < 0.15:
            kind, rid = rng.choice(self.vocabulary.records)
            return {"op": "==", "entity": {"type": kind, "id": rid}}
        return {"op": "is", "entity_type": rng.choice(types)}

    def principal_scope(self, always: bool = False) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if not always and roll < 0.6:
            return {"op": "All"}
        if roll < 0.8:
            return {"op": "==", "entity": {"type": "User", "id": rng.choice(self.vocabulary.users)}}
        if roll < 0.95:
            return {"op": "in", "entity": {"type": "Product", "id": rng.choice(PRODUCTS)}}
        return {"op": "All"}

    def new_policy(self, effect: str, number: int) -> tuple[Est, str]:
        rng = self.rng
        action = self.action_scope()
        whats = []
        conditions = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            what, node = self.atom()
            whats.append(what)
            conditions.append(node)
        body = conditions[0]
        for node in conditions[1:]:
            body = _and(body, node) if rng.random() < 0.75 else _or(body, node)
        clauses = [{"kind": "when", "body": body}]
        if rng.random() < 0.2:
            what, node = self.atom()
            whats.append(what)
            clauses.append({"kind": "unless", "body": node})
        annotations = {
            "id": f"mutant-{number}",
            "rule": rng.choice(RULES),
            "reason": f"mutant {number}",
        }
        if effect == "permit":
            annotations["product"] = rng.choice(("books", "subscriptions", "crm"))
            annotations["seat"] = rng.choice(("member", "integration", "admin"))
        else:
            annotations["missing"] = f"what mutant {number} forbids"
        est = {
            "effect": effect,
            "principal": self.principal_scope(),
            "action": action,
            "resource": self.resource_scope(action),
            "conditions": clauses,
            "annotations": annotations,
        }
        return est, "+".join(sorted(set(whats)))


def _scope_text(est: Est, var: str) -> str:
    """One scope clause of a policy as Cedar text."""
    bare = {
        "effect": "permit",
        "principal": {"op": "All"},
        "action": {"op": "All"},
        "resource": {"op": "All"},
        "conditions": [],
        var: est[var],
    }
    text = policy_text(bare)  # permit(principal, action, resource);
    inner = text[text.index("(") + 1 : text.rindex(")")]
    parts = [p.strip() for p in _split_scope(inner)]
    return parts[("principal", "action", "resource").index(var)]


def _split_scope(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for n, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            out.append(text[start:n])
            start = n + 1
    out.append(text[start:])
    return out


# -- the prover's known holes ---------------------------------------------------------------------


def _with_conjunct(files: Files, shipped: PolicyFiles, pid: str, text: str) -> frozenset[str]:
    name, n = shipped.policy(pid)
    cond = files[name][n]["conditions"][0]
    cond["body"] = _and(expr(text), cond["body"])
    return frozenset((name,))


def _with_new(files: Files, text: str) -> frozenset[str]:
    files.setdefault(NEW_FILE, []).extend(parse_file(text))
    return frozenset((NEW_FILE,))


def _annotated(pid: str, effect: str, body: str) -> str:
    extra = '@product("books")\n@seat("member")\n' if effect == "permit" else '@missing("m")\n'
    return f'@id("{pid}")\n@rule("D8")\n@reason("r")\n{extra}{body}'


def known_holes(shipped: PolicyFiles) -> list[Mutant]:
    """The prover's known holes H1-H7 as mutants (H6 from a base that has the principal's
    version of the forbid, as tests/unit/test_prover_holes.py has it), and the other holes: the
    set `!=` crash, the false alarm on `!(resource has title)`, the redaction dropped."""
    out: list[Mutant] = []

    def add(name: str, kind: str, words: str, edit: Callable[[Files], frozenset[str]]) -> None:
        files = copy.deepcopy(shipped.files)
        touched = edit(files)
        out.append(Mutant(-len(out) - 1, kind, words, files, touched, name=name))

    add(
        "H1",
        "add-conjunct/has",
        "policy `books-integration-user`: when gains conjunct `resource has title` first",
        lambda f: _with_conjunct(f, shipped, "books-integration-user", "resource has title"),
    )
    add(
        "H2",
        "add-conjunct/has",
        "policy `crm-admin-enrols`: when gains conjunct `context has product` first",
        lambda f: _with_conjunct(f, shipped, "crm-admin-enrols", "context has product"),
    )
    h3 = (
        'permit (principal, action == Action::"edit", resource is Invoice)\n'
        'when { principal has books && principal.books.role == Role::"books-clerk" };'
    )
    add("H3", "new-permit/entity", f"add `{' '.join(h3.split())}`",
        lambda f: _with_new(f, _annotated("h3", "permit", h3)))  # fmt: skip
    h4 = (
        'permit (principal == User::"asha", action == Action::"delete", resource is Estimate)\n'
        'when { context.channel == "crm" };'
    )
    add("H4", "new-permit/literal", f"add `{' '.join(h4.split())}`",
        lambda f: _with_new(f, _annotated("h4", "permit", h4)))  # fmt: skip
    h5 = (
        'permit (principal, action == Action::"delete", resource is Estimate)\n'
        'when { principal.email == "fay@demo.example" };'
    )
    add("H5", "new-permit/literal", f"add `{' '.join(h5.split())}`",
        lambda f: _with_new(f, _annotated("h5", "permit", h5)))  # fmt: skip
    h6_base = (
        'forbid (principal, action == Action::"approve", resource)\n'
        "when { resource has submitted_by && principal.crm_admin };"
    )
    h6 = (
        'forbid (principal, action == Action::"approve", resource)\n'
        "when { resource has submitted_by && resource.submitted_by.crm_admin };"
    )
    add("H6", "re-root", "policy `h6`: `principal.crm_admin` becomes "
        "`resource.submitted_by.crm_admin`",
        lambda f: _with_new(f, _annotated("h6", "forbid", h6)))  # fmt: skip
    base = copy.deepcopy(shipped.files)
    out[-1].base, out[-1].base_touched = base, _with_new(base, _annotated("h6", "forbid", h6_base))
    h7 = (
        'forbid (principal, action == Action::"enrol_integration_user", resource)\n'
        "when { resource.crm_admin };"
    )
    add("H7", "new-forbid/related", f"add `{' '.join(h7.split())}`",
        lambda f: _with_new(f, _annotated("h7", "forbid", h7)))  # fmt: skip
    crash = (
        'forbid (principal, action == Action::"edit", resource)\n'
        'when { context.fields != ["invoice.notes"] && principal has books && '
        "!principal.books.member };"
    )
    add("set !=", "new-forbid/literal", f"add `{' '.join(crash.split())}`",
        lambda f: _with_new(f, _annotated("set-ne", "forbid", crash)))  # fmt: skip
    add(
        "!has",
        "add-conjunct/has",
        "policy `books-integration-user`: when gains conjunct `!(resource has title)` first",
        lambda f: _with_conjunct(f, shipped, "books-integration-user", "!(resource has title)"),
    )

    def drop_redaction(files: Files) -> frozenset[str]:
        name, n = shipped.policy("redact-hidden-fields")
        cond = files[name][n]["conditions"][0]
        cond["body"] = cond["body"]["||"]["left"]  # the Books branch only
        return frozenset((name,))

    add(
        "redaction",
        "drop-disjunct",
        "policy `redact-hidden-fields`: when loses its Subscriptions branch",
        drop_redaction,
    )
    return out


# -- concrete orgs and requests -----------------------------------------------------------------


@dataclass
class Literals:
    """What a policy names: entities by type, strings, whole numbers."""

    entities: dict[str, set[str]] = field(default_factory=dict)
    strings: set[str] = field(default_factory=set)
    numbers: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, policies: list[Est]) -> Literals:
        found = cls()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                ref = node.get("__entity", node if {"type", "id"} <= node.keys() else None)
                if isinstance(ref, dict) and isinstance(ref.get("id"), str):
                    found.entities.setdefault(str(ref["type"]), set()).add(ref["id"])
                value = node.get("Value")
                if isinstance(value, str):
                    found.strings.add(value)
                elif isinstance(value, int) and not isinstance(value, bool):
                    found.numbers.add(value)
                for key, child in node.items():
                    if key != "annotations":
                        walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(policies)
        return found


def plant(
    org: dict[str, Any], found: Literals, catalogue: Catalogue, rng: random.Random
) -> dict[str, Any]:
    """A copy of `org` holding what a mutant names: its users (renamed from the org's), their
    emails, its roles and profiles, its records, titles, folders and statuses, its org id,
    edition and data centre, a limit of integration users at its numbers; and a record
    submitted by a CRM admin, which a related path may read."""
    org = copy.deepcopy(org)
    users = org["users"]
    owner = org.get("integration_owner")

    def rename_user(old: str, new: str) -> None:
        for u in users:
            if u["id"] == old:
                u["id"] = new
        for r in org["records"]:
            if r.get("submitted_by") == old:
                r["submitted_by"] = new
        if org.get("integration_owner") == old:
            org["integration_owner"] = new

    taken = {u["id"] for u in users}
    for uid in sorted(found.entities.get("User", ())):
        if uid in taken:
            continue
        named = found.entities.get("User", set())
        free = [u["id"] for u in users if u["id"] != owner and u["id"] not in named]
        if free:
            rename_user(rng.choice(free), uid)
        else:
            profile = org["profiles"][0]["id"]
            users.append({"id": uid, "email": f"{uid}@planted.example", "profile": profile})
        taken.add(uid)
    for email in sorted(s for s in found.strings if "@" in s and " " not in s):
        local = email.split("@", 1)[0]
        holder = next((u for u in users if u["id"] == local), None) or rng.choice(users)
        holder["email"] = email
    for rid in sorted(found.entities.get("Role", ())):
        if any(r["id"] == rid for r in org["roles"]):
            continue
        product = (
            "subscriptions"
            if rid.startswith("subscriptions")
            else ("books" if rid.startswith("books") else rng.choice(PRODUCTS))
        )
        mine = [r for r in org["roles"] if r["product"] == product]
        mine = [r for r in mine if not r["id"].endswith("-owner")]
        if mine:
            old = rng.choice(mine)["id"]
            for r in org["roles"]:
                if r["id"] == old:
                    r["id"] = rid
            for u in users:
                for m in u.get("memberships", []):
                    if m["role"] == old:
                        m["role"] = rid
        else:
            org["roles"].append({"id": rid, "product": product, "grants": {}})
            seatless = [
                u
                for u in users
                if all(s["product"] != product for s in u.get("memberships", []))
                and all(s["product"] != product for s in u.get("enrolments", []))
            ]
            if seatless:
                member = rng.choice(seatless)
                member.setdefault("memberships", []).append({"product": product, "role": rid})
    for pid in sorted(found.entities.get("Profile", ())):
        if any(p["id"] == pid for p in org["profiles"]):
            continue
        old = rng.choice(org["profiles"])["id"]
        for p in org["profiles"]:
            if p["id"] == old:
                p["id"] = pid
        for u in users:
            if u["profile"] == old:
                u["profile"] = pid
    for oid in sorted(found.entities.get("Org", ())):
        org["id"] = oid
    entity_module = {info.entity: m for m, info in catalogue.modules.items()}
    for kind, ids in sorted(found.entities.items()):
        module = entity_module.get(kind)
        if module is None:
            continue
        for rid in sorted(ids):
            if (
                rid
                and not rid.startswith("#")
                and not any(r["type"] == module and r["id"] == rid for r in org["records"])
            ):
                org["records"].append(_record(module, rid))
    texts = sorted(s for s in found.strings if s not in STATUSES and "@" not in s and "." not in s)
    for text in texts:
        if text in ("crm", "direct") or text in EDITIONS or text in DATA_CENTRES:
            continue
        kind = rng.choice(("report", "dashboard"))
        rec = _record(kind, f"planted-{len(org['records'])}")
        rec["title"] = text
        if kind == "report":
            rec["folder"] = text if rng.random() < 0.5 else "Subscriptions Reports"
        org["records"].append(rec)
    for status in sorted(s for s in found.strings if s in STATUSES):
        for module in ("estimate", "invoice"):
            rec = _record(module, f"planted-{len(org['records'])}")
            rec["status"] = status
            if status == "pending_approval":
                org.setdefault("approval", {}).setdefault("books", [])
                if module not in org["approval"]["books"]:
                    org["approval"]["books"].append(module)
            org["records"].append(rec)
    editions = [s for s in found.strings if s in EDITIONS]
    if editions and rng.random() < 0.7:
        org["edition"] = rng.choice(editions)
    centres = [s for s in found.strings if s in DATA_CENTRES]
    if centres and rng.random() < 0.7:
        org["data_centre"] = rng.choice(centres)
    enrolled = sum(1 for u in users if u.get("enrolments"))
    if found.numbers:
        n = rng.choice(sorted(found.numbers))
        org.setdefault("migration", {})["limit"] = max(0, rng.choice((n - 1, n, n + 1, enrolled)))
    for product in PRODUCTS:  # a hidden and a read-only field in each product
        modules = [m for m, info in catalogue.modules.items() if product in info.products]
        module = rng.choice(modules)
        hidden = rng.choice(catalogue.modules[module].fields)
        plain = [r for r in org["roles"] if r["product"] == product and not r.get("fields")]
        if plain:
            rng.choice(plain)["fields"] = {module: {hidden: "hidden"}}
        rules = org.setdefault("integration_user_fields", {})
        if not rules.get(product):
            module = rng.choice(modules)
            rules[product] = {module: {rng.choice(catalogue.modules[module].fields): "read_only"}}
    admins = [u["id"] for u in users if u.get("crm_admin")]
    transactions = [r for r in org["records"] if catalogue.modules[r["type"]].transaction]
    if admins and transactions:
        rec = rng.choice(transactions)
        rec["submitted_by"] = rng.choice(admins)
        if rec.get("status") not in ("pending_approval", "approved"):
            rec["status"] = "approved"
    return org


def _record(module: str, rid: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": rid, "type": module}
    if module == "report":
        rec["folder"] = "Sales Reports"
    if module in ("report", "dashboard"):
        rec["title"] = "Planted"
    return rec


def requests_for(org: Org, policies: PolicySet, emails: tuple[str, ...] = ()) -> list[Request]:
    """The crosscheck's request space over `org`, and, for an org of a few users, what a
    mutant can tell apart where the shipped set cannot: every user as the user enrolled, edits
    touching two fields, `acting_as` naming each user on every action, `sender` each address
    (the org's and `emails`), migrations around the org's count and limit."""
    out = list(request_space(org, policies))
    if len(org.users) > 12:
        return out
    modules = policies.catalogue.modules
    ids = [u.id for u in org.users]
    addresses = sorted({*(u.email for u in org.users), *emails})
    targets: list[tuple[str, str | None]] = [(m, None) for m in modules]
    targets += [(r.type, r.id) for r in org.records]
    for user in org.users:
        for n, (kind, rid) in enumerate(targets):
            fields = modules[kind].fields
            pick = (n * 7 + len(user.id)) % len(fields)
            two = (fields[pick], fields[(pick + 3) % len(fields)])
            out.append(Request(user.id, "edit", kind, rid, "crm", (*sorted(set(two)),)))
            action = RECORD_ACTIONS[(n + len(user.id)) % len(RECORD_ACTIONS)]
            for other in ids:
                out.append(Request(user.id, action, kind, rid, context={"acting_as": other}))
            if kind in ("estimate", "invoice", "report") or rid is None:
                for address in addresses:
                    out.append(
                        Request(user.id, "send_email", kind, rid, context={"sender": address})
                    )
        for target in ids:
            for product in policies.catalogue.products:
                for channel in ("crm", "direct"):
                    out.append(
                        Request(
                            user.id,
                            "enrol_integration_user",
                            "user",
                            target,
                            channel,
                            context={"product": product},
                        )
                    )
        count, limit = org.integration_users, org.migration.limit
        for n in sorted({0, 1, 2, max(0, limit - count), limit - count + 1, limit + 1}):
            if n >= 0:
                count_n = {"enrolments": n}
                out.append(Request(user.id, "run_migration", "org", org.id, context=count_n))
        for other in ids:
            out.append(Request(user.id, "run_migration", "org", org.id, "direct",
                               context={"enrolments": 1, "acting_as": other}))  # fmt: skip
    unique = {json.dumps(r.to_dict(), sort_keys=True): r for r in out}
    return list(unique.values())
