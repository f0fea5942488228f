"""Load a policy set once: parse, validate against the schema (strict), read annotations.

A policy set is a directory: `schema.cedarschema`, `modules.json` and one `.cedar` file per
concern. Policies are keyed by their `@id`, so Cedar's diagnostics name them directly and the
per-request path only looks annotations up.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from suite_authz.engine.core.catalogue import Catalogue, parse_catalogue
from suite_authz.engine.core.errors import PolicyError, one_line
from suite_authz.engine.core.policy_files import (
    CATALOGUE_FILE,
    SCHEMA_FILE,
    PolicySource,
    read_source,
)

RULES: tuple[str, ...] = tuple(f"D{n}" for n in range(1, 13))
# @obligation kinds (policies/obligations.cedar): asked after an allow, never part of a decision.
OBLIGATIONS: tuple[str, ...] = ("held", "redact", "sender")
_OBLIGATION_WORDS = {"redact": "hides fields", "sender": "names the sender of a mail"}
_ID_LINE = re.compile(r'@id\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """What a decision needs to know of a policy, read once from its annotations."""

    id: str
    effect: str  # "permit" | "forbid"
    file: str
    line: int
    rules: tuple[str, ...]
    reason: str
    missing: str
    product: str | None  # permits: the product whose identity the action runs under (D1)
    seat: str | None  # permits: "member", "integration" or "admin"
    detail: str | None  # forbids: which org data names the culprit (explain._detail)
    annotations: dict[str, str]
    obligation: str | None = None  # one of OBLIGATIONS: asked after an allow, not deciding
    ordinal: int = 0  # its place in its file, from 1: names a policy with no @id
    resource_type: str | None = None  # the entity type its scope names (`resource is T`)

    @property
    def label(self) -> str:
        """How a finding names it: by @id, or by its place when it has none (lint goes on to
        report everything else wrong with it in the same run)."""
        return f"policy `{self.id}`" if self.id else f"policy #{self.ordinal}"

    @property
    def key(self) -> str:
        return self.id or f"{self.file}#{self.ordinal}"


@dataclass(frozen=True, slots=True)
class PolicySet:
    directory: Path
    version: str
    catalogue: Catalogue
    schema: Any  # cedarpy.Schema
    handle: Any  # cedarpy.PolicySet
    grants_handle: Any  # cedarpy.PolicySet of the permits alone: what each grant covers
    obligations_handle: Any  # cedarpy.PolicySet of the @obligation policies alone
    policies: dict[str, PolicyInfo]
    texts: dict[str, str]  # file name -> Cedar text, for fmt and diff
    schema_text: str
    # False for a set that borrows its parent's schema (policies/legacy): compared against,
    # never served.
    servable: bool = True
    source: PolicySource | None = None  # the texts it was built from: what publish stores
    # policy key -> its JSON form (Cedar's EST), the deciding ones: what engine/symbolic reads
    deciding: dict[str, Any] = field(default_factory=dict)
    # policy key -> EST of the @obligation ones
    obligations: dict[str, Any] = field(default_factory=dict)


# suite_authz/: in a source checkout a directory of links to the repository's parts, in an
# install the package itself. Either way the shipped set is its `policies`.
PACKAGE_DIR = Path(__file__).parents[2]


def default_policies_dir() -> Path:
    """The shipped policy set: `suite_authz/policies` (the repository's `policies/` in a source
    checkout, the installed copy in a wheel install)."""
    candidate = (PACKAGE_DIR / "policies").resolve()
    if not (candidate / SCHEMA_FILE).is_file():
        raise PolicyError(f"no policy set found at {candidate}: pass --policies DIR")
    return candidate


def is_installed_copy(directory: Path) -> bool:
    """True for a directory inside the installed package (not a source checkout's links):
    what `pip install` wrote, and no command should rewrite."""
    package = PACKAGE_DIR.resolve()
    return package in (directory.resolve(), *directory.resolve().parents)


def load_policies(directory: Path | None = None) -> PolicySet:
    return build_policies(read_source(directory or default_policies_dir()))


def build_policies(source: PolicySource) -> PolicySet:
    """Parse, validate and index a set's texts. Raises PolicyError listing every problem."""
    directory = source.directory
    schema_path = directory / SCHEMA_FILE
    try:
        schema = cedarpy.Schema.from_str(source.schema)
    except ValueError as exc:
        raise PolicyError(f"{schema_path}: invalid schema: {exc}") from exc
    catalogue = parse_catalogue(source.catalogue, str(directory / CATALOGUE_FILE))

    problems, infos, static = inspect_texts(directory, source.cedar, schema)
    if source.servable:
        problems += missing_obligations(infos)
    if problems:
        raise PolicyError(one_line("invalid policy set", problems), tuple(problems))

    deciding = {pid: est for pid, est in static.items() if infos[pid].obligation is None}
    obligations = {pid: est for pid, est in static.items() if infos[pid].obligation is not None}
    handle = policy_set(deciding)
    grants_handle = policy_set(
        {pid: est for pid, est in deciding.items() if infos[pid].effect == "permit"}
    )
    obligations_handle = policy_set(obligations)
    return PolicySet(
        directory=directory,
        version=source.digest(),
        catalogue=catalogue,
        schema=schema,
        handle=handle,
        grants_handle=grants_handle,
        obligations_handle=obligations_handle,
        deciding=deciding,
        obligations=obligations,
        policies=infos,
        texts=dict(source.cedar),
        schema_text=source.schema,
        servable=source.servable,
        source=source,
    )


def inspect_texts(
    directory: Path, texts: dict[str, str], schema: Any
) -> tuple[list[str], dict[str, PolicyInfo], dict[str, Any]]:
    """Every problem of a set of policy files (parse, annotations, ids, strict validation),
    with the policies read: what load refuses on and what lint reports."""
    problems: list[str] = []
    infos: dict[str, PolicyInfo] = {}
    static: dict[str, Any] = {}
    for name, text in texts.items():
        if not _holds_code(text):
            # A file emptied by a writer (`open(..., "w")`, cp, a checkout) reads as a valid set
            # with its policies gone, forbids included: never take that for an edit.
            problems.append(f"{name}:1: holds no policy: a file being written? delete it instead")
            continue
        for info, est in _read_file(directory / name, text, problems):
            if info.key in infos:
                first = infos[info.key]
                problems.append(
                    f"{name}:{info.line}: policy `{info.id}`: duplicate @id, first at "
                    f"{first.file}:{first.line}"
                )
                continue
            infos[info.key] = info
            static[info.key] = est
        problems.extend(_validate(directory / name, text, schema))
    return problems, infos, static


def missing_obligations(infos: dict[str, PolicyInfo]) -> list[str]:
    """Without these an allow would carry nothing: a view hiding no field (D7) would be an
    allow by mistake, so a set that can be served must say how it redacts and whom mail is
    from."""
    kinds = {i.obligation for i in infos.values()}
    return [
        f'no @obligation("{kind}") policy: a set that serves must say how a decision '
        f"{_OBLIGATION_WORDS[kind]} ({rule}; see policies/obligations.cedar)"
        for kind, rule in (("redact", "D7"), ("sender", "D11"))
        if kind not in kinds
    ]


def _holds_code(text: str) -> bool:
    return any(line.strip() and not line.strip().startswith("//") for line in text.splitlines())


def policy_set(static: dict[str, Any]) -> Any:
    """A cedarpy.PolicySet of ESTs keyed by policy key (so Cedar's reasons name them)."""
    return cedarpy.PolicySet.from_json_str(
        json.dumps({"staticPolicies": static, "templates": {}, "templateLinks": []})
    )


def _read_file(path: Path, text: str, problems: list[str]) -> list[tuple[PolicyInfo, Any]]:
    try:
        est = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        line = _first_bad_line(text)
        problems.append(f"{path.name}:{line}: does not parse: {exc}")
        return []
    if est.get("templates"):
        problems.append(f"{path.name}: templates are not supported in a policy set")
    lines = _id_lines(text)
    out = []
    # Cedar numbers policies policy0, policy1, ... in file order.
    ordered = sorted(
        est["staticPolicies"].items(), key=lambda kv: int(kv[0].removeprefix("policy"))
    )
    for n, (_, policy) in enumerate(ordered):
        ann: dict[str, str] = dict(policy.get("annotations", {}))
        pid = ann.get("id", "")
        line = lines[n] if n < len(lines) else 0
        where = f"{path.name}:{line}: " + (f"policy `{pid}`" if pid else f"policy #{n + 1}")
        if not pid:
            problems.append(f"{path.name}:{line}: policy #{n + 1} has no @id")
        rules = tuple(r.strip() for r in ann.get("rule", "").split(",") if r.strip())
        unknown = [r for r in rules if r not in RULES]
        if not rules or unknown:
            problems.append(
                f"{where}: @rule must name rules D1-D12 of docs/rules.md, "
                f"got `{ann.get('rule', '')}`"
            )
        if not ann.get("reason"):
            problems.append(f"{where}: no @reason")
        obligation = ann.get("obligation")
        if obligation is not None and (
            obligation not in OBLIGATIONS or policy["effect"] != "permit"
        ):
            problems.append(
                f"{where}: @obligation is a permit of one kind: "
                f"{', '.join(OBLIGATIONS)}, got `{obligation}` on a {policy['effect']}"
            )
        info = PolicyInfo(
            id=pid,
            effect=str(policy["effect"]),
            file=path.name,
            line=line,
            rules=rules,
            reason=ann.get("reason", ""),
            missing=ann.get("missing", ""),
            product=ann.get("product"),
            seat=ann.get("seat"),
            detail=ann.get("detail"),
            annotations=ann,
            obligation=obligation,
            ordinal=n + 1,
            resource_type=_scope_type(policy.get("resource", {})),
        )
        out.append((info, policy))
    return out


def _scope_type(scope: Any) -> str | None:
    if isinstance(scope, dict) and scope.get("op") in ("is", "is_in"):
        return str(scope.get("entity_type"))
    return None


def _validate(path: Path, text: str, schema: Any) -> list[str]:
    try:
        result = cedarpy.validate_policies(text, schema)
    except ValueError as exc:  # already reported as a parse error
        del exc
        return []
    if result.validation_passed:
        return []
    lines = _id_lines(text)
    source = text.splitlines()
    names = result.id_annotations_by_policy_id
    problems = []
    for err in result.errors:
        pid = err.policy_id
        n = int(pid.removeprefix("policy")) if pid.startswith("policy") else -1
        first = lines[n] if 0 <= n < len(lines) else 0
        last = lines[n + 1] - 1 if 0 <= n < len(lines) - 1 else len(source)
        label = names.get(pid, pid)
        message = err.error.replace(f"for policy `{pid}`, ", "")
        line = _culprit_line(source, first, last, message)
        problems.append(f"{path.name}:{line}: policy `{label}`: {message}")
    return sorted(_one_per_attribute(problems), key=_by_place)


_NO_ATTRIBUTE = re.compile(r"^(.*: attribute `[^`]+` on entity type) (`[^`]+`) not found$")


def _one_per_attribute(problems: list[str]) -> set[str]:
    """Cedar reports a missing attribute once per entity type the resource may be: one line
    per place, naming the types together, reads better than nine."""
    types: dict[str, list[str]] = {}
    out = set()
    for problem in problems:
        match = _NO_ATTRIBUTE.match(problem)
        if match is None:
            out.add(problem)
        else:
            types.setdefault(match[1], []).append(match[2])
    for head, named in types.items():
        named = sorted(set(named))
        plural = "types" if len(named) > 1 else "type"
        out.add(f"{head.removesuffix('type')}{plural} {', '.join(named)} not found")
    return out


def _culprit_line(source: list[str], first: int, last: int, message: str) -> int:
    """The line of the policy (lines first..last) holding what a validation error names.

    Cedar's validator (through cedarpy) gives no source location, but its messages quote the
    culprit in backticks (an attribute, an entity type, an action): the first line of the
    policy that holds it, as code rather than in a comment or annotation, is where to look.
    Else the policy's first line."""
    if first <= 0:
        return first
    for token in re.findall(r"`([^`]+)`", message):
        if token.startswith(("for policy", "policy")):
            continue
        if re.fullmatch(r"\w+", token):
            pattern = re.compile(rf"(\.|\bhas\s+|\b){re.escape(token)}\b")
        else:
            pattern = re.compile(re.escape(token))
        for number in range(first, min(last, len(source)) + 1):
            code = source[number - 1].split("//", 1)[0]
            if code.lstrip().startswith("@"):
                continue
            if pattern.search(code):
                return number
    return first


def _by_place(problem: str) -> tuple[str, int, str]:
    """Sort findings by file, then line as a number (12 after 2), then text."""
    name, _, rest = problem.partition(":")
    number, _, text = rest.partition(":")
    return (name, int(number) if number.isdigit() else 0, text)


def _id_lines(text: str) -> list[int]:
    """The line of each policy's first line, in file order (by its @id, else its effect)."""
    lines = []
    pending: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("//") or not line:
            continue
        if line.startswith("@") and pending is None:
            pending = number
        if re.match(r"^(permit|forbid)\s*\(", line):
            lines.append(pending if pending is not None else number)
            pending = None
    return lines


def _first_bad_line(text: str) -> int:
    """Parse growing prefixes, one statement at a time, to find where parsing breaks."""
    statements = text.split(";")
    consumed = 0
    for stmt in statements[:-1]:
        try:
            cedarpy.policies_to_json_str(text[: consumed + len(stmt) + 1])
        except ValueError:
            start = consumed + len(stmt) - len(stmt.lstrip())
            return text.count("\n", 0, start) + 1
        consumed += len(stmt) + 1
    return text.count("\n", 0, consumed + len(statements[-1]) - len(statements[-1].lstrip())) + 1
