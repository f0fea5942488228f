"""Policy test suites: YAML files naming an org and cases (request -> expected decision).

A case's `expect` holds `decision` and, optionally, `rules` that must appear, `policies` that
must appear, `redact_fields`, `acting_as` and `sender`, compared exactly, and `error`: words
the refusal of a bad request must contain (without it, any error fails the case).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from suite_authz.engine.core.decide import Engine
from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.errors import AuthzError, one_line
from suite_authz.engine.core.model import load_org, pydantic_problems
from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.reading import read_file
from suite_authz.engine.core.request import Request, parse_resource


class _Strict(BaseModel):
    # A misspelt key (`decison`) is an error naming the key, never a silently ignored one.
    model_config = ConfigDict(extra="forbid", strict=True)


class _RequestSpec(_Strict):
    subject: str
    action: str
    resource: str
    channel: str = "crm"
    fields: list[str] = []
    context: dict[str, Any] = {}


class _ExpectSpec(_Strict):
    decision: Literal["allow", "deny"]
    rules: list[str] = []
    policies: list[str] = []
    redact_fields: list[str] = []
    acting_as: dict[str, str] | None = None
    sender: str | None = None
    error: str = ""


class _CaseSpec(_Strict):
    name: str | None = None
    request: _RequestSpec
    expect: _ExpectSpec


class _SuiteSpec(_Strict):
    org: str | dict[str, Any]
    cases: list[_CaseSpec]


_KNOWN_KEYS = tuple(
    sorted({k for m in (_RequestSpec, _ExpectSpec, _CaseSpec, _SuiteSpec) for k in m.model_fields})
)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: Request
    expect: dict[str, Any]
    where: str  # file and case index, for messages


@dataclass(frozen=True, slots=True)
class Suite:
    path: Path
    org: Path | dict[str, Any]
    cases: tuple[Case, ...] = field(default=())


def load_suite(path: Path) -> Suite:
    """Read and check a suite whole: every problem, each with its path, or a Suite."""
    text = read_file(path, "a policy test suite", AuthzError)  # bounded; a FIFO refused
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AuthzError(f"{path}: cannot read suite: {exc}") from None
    try:
        spec = _SuiteSpec.model_validate(raw)
    except ValidationError as exc:
        problems = tuple(f"{path.name}: {p}" for p in pydantic_problems(exc, _KNOWN_KEYS))
        raise AuthzError(one_line(f"{path}: invalid suite", list(problems)), problems) from None
    org_ref: Path | dict[str, Any] = (
        spec.org if isinstance(spec.org, dict) else (path.parent / spec.org).resolve()
    )
    cases = tuple(_case(path, n, c) for n, c in enumerate(spec.cases))
    return Suite(path=path, org=org_ref, cases=cases)


def _case(path: Path, n: int, spec: _CaseSpec) -> Case:
    req = spec.request
    kind, rid = parse_resource(req.resource)
    request = Request(
        subject=req.subject,
        action=req.action,
        resource_type=kind,
        resource_id=rid,
        channel=req.channel,
        fields=tuple(req.fields),
        context=dict(req.context),
    )
    return Case(
        name=spec.name if spec.name is not None else f"case {n}",
        request=request,
        # only what the case states is compared (`sender: null` is a statement, absent is not)
        expect=spec.expect.model_dump(exclude_unset=True),
        where=f"{path.name}: cases[{n}]",
    )


def mismatches(case: Case, decision: Decision, policy_ids: bool = True) -> list[str]:
    """What differs between the case's expectation and the decision; empty when it holds.
    `policies` expectations name Cedar policies: pass policy_ids=False for a backend that
    names rules only (Polar)."""
    out: list[str] = []
    expect = case.expect
    if decision.decision != expect["decision"]:
        out.append(f"decision: expected {expect['decision']}, got {decision.decision}")
    for key in ("rules", "policies") if policy_ids else ("rules",):
        want = [str(x) for x in expect.get(key, ())]
        have = getattr(decision, key)
        absent = [x for x in want if x not in have]
        if absent:
            out.append(f"{key}: expected {', '.join(absent)} among [{', '.join(have)}]")
    if "redact_fields" in expect and sorted(expect["redact_fields"]) != list(
        decision.redact_fields
    ):
        out.append(
            f"redact_fields: expected {sorted(expect['redact_fields'])}, "
            f"got {list(decision.redact_fields)}"
        )
    if "acting_as" in expect:
        have_as = decision.acting_as.to_dict() if decision.acting_as else None
        if expect["acting_as"] != have_as:
            out.append(f"acting_as: expected {expect['acting_as']}, got {have_as}")
    if "sender" in expect and expect["sender"] != decision.sender:
        out.append(f"sender: expected {expect['sender']}, got {decision.sender}")
    if "error" in expect:  # a request refused as bad input: the words it must be refused with
        if str(expect["error"]) not in "; ".join(decision.errors):
            out.append(f"error: expected `{expect['error']}`, got [{'; '.join(decision.errors)}]")
    elif decision.errors:
        out.append(f"errors: {'; '.join(decision.errors)}")
    return out


@dataclass(frozen=True, slots=True)
class CaseResult:
    suite: Path
    case: Case
    decision: Decision
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class SuiteRun:
    results: tuple[CaseResult, ...]
    policy_ids: tuple[str, ...]  # every policy of the set, sorted

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def covered(self) -> frozenset[str]:
        """Policies some case made determining."""
        return frozenset(p for r in self.results for p in r.decision.policies)

    @property
    def uncovered(self) -> tuple[str, ...]:
        return tuple(p for p in self.policy_ids if p not in self.covered)

    @property
    def coverage(self) -> float:
        if not self.policy_ids:
            return 100.0
        return 100.0 * (len(self.policy_ids) - len(self.uncovered)) / len(self.policy_ids)


def suite_files(paths: list[Path]) -> list[Path]:
    """Suite files named, or found (*.yaml, *.yml) under directories named, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
        elif path.is_file():
            found.append(path)
        else:
            raise AuthzError(f"{path}: no such suite file or directory")
    if not found:
        raise AuthzError(f"no suites found in {', '.join(str(p) for p in paths)}")
    return found


def run_suites(paths: list[Path], policies: PolicySet, backend: str = "cedar") -> SuiteRun:
    """Load every suite first (a broken suite fails the run before any case), then run."""
    suites = [load_suite(p) for p in suite_files(paths)]
    engines: dict[str, Engine] = {}
    results: list[CaseResult] = []
    for suite in suites:
        key = str(suite.org) if isinstance(suite.org, Path) else f"{suite.path}#inline"
        if key not in engines:
            engines[key] = Engine(policies, load_org(suite.org, policies.catalogue), backend)
        engine = engines[key]
        for case in suite.cases:
            decision = engine.decide(case.request)
            results.append(
                CaseResult(
                    suite.path,
                    case,
                    decision,
                    tuple(mismatches(case, decision, policy_ids=backend == "cedar")),
                )
            )
    return SuiteRun(tuple(results), tuple(sorted(policies.policies)))


def junit_xml(run: SuiteRun) -> str:
    """JUnit XML: one testsuite per suite file, one testcase per case."""
    root = ET.Element("testsuites", tests=str(len(run.results)), failures=str(len(run.failed)))
    by_suite: dict[Path, list[CaseResult]] = {}
    for result in run.results:
        by_suite.setdefault(result.suite, []).append(result)
    for path, results in by_suite.items():
        failures = sum(1 for r in results if not r.passed)
        suite = ET.SubElement(
            root, "testsuite", name=path.stem, tests=str(len(results)), failures=str(failures)
        )
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=path.stem, name=result.case.name)
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.problems[0])
                failure.text = "\n".join(result.problems)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
