"""authz review BASE: every check a policy change must pass, run to the end, in one document.

A pull request's reviewer needs one comment that says whether the change may merge and why
not: validate, lint, fmt --check, test, verify and the diff against BASE each run whatever the
others found (a widening that breaks a test is still shown as a widening), and every reason
any of them failed comes first. Each check is the engine call its own command makes, judged
as that command judges it; this module only runs them together and renders the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from suite_authz.cli.exits import ALLOW, BAD_INPUT, DENY, INTERNAL
from suite_authz.cli.options import format_option, policies_option
from suite_authz.engine.core import AuthzError, PolicySet
from suite_authz.engine.review import lint_policies, run_suites, unformatted
from suite_authz.engine.sources import PolicyRef, resolve_policies


@dataclass
class Check:
    """One check's outcome: `code` as its own command would exit (0 passed, 1 failed, 2 bad
    input or refused, 3 internal), None when it could not run."""

    command: str  # as a user would type it: `authz lint`
    result: str = ""  # one line for the table
    reasons: list[str] = field(default_factory=list)  # why it failed, one item each
    code: int | None = ALLOW

    @property
    def failed(self) -> bool:
        return self.code not in (ALLOW, None)


@dataclass
class Review:
    base: str
    directory: Path
    checks: list[Check] = field(default_factory=list)
    diff: tuple[Any, ...] | None = None  # report, proven, union, verdict (commands/diff.py)

    @property
    def exit_code(self) -> int:
        codes = {c.code for c in self.checks}
        for code in (INTERNAL, BAD_INPUT, DENY):
            if code in codes:
                return code
        return ALLOW


@click.command(name="review")
@click.argument("base")
@policies_option
@click.option(
    "--fail-on",
    type=click.Choice(("non-member-gain", "any-widening")),
    default=None,
    help="Fail when a non-member gains anything, or when anyone does (as authz diff).",
)
@click.option(
    "--expect",
    "expect_file",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON list of the intended changes (as authz diff --expect).",
)
@click.option(
    "--prove/--no-prove",
    default=True,
    show_default=True,
    help="Also prove the diff over every org the model allows (as authz diff --prove).",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PCT",
    help="Fail when fewer than PCT % of the policies were determining in some test case.",
)
@format_option("markdown")
def review_command(
    base: str,
    policies: PolicyRef,
    fail_on: str | None,
    expect_file: Path | None,
    prove: bool,
    min_coverage: float | None,
    output_format: str,
) -> None:
    """Review a change to a policy set, as a pull request needs it: validate, lint, fmt
    --check, test (the set's tests/), verify and diff against BASE (`git:REV`, a revision's
    policies/, or a directory, as authz diff reads it), each run whatever the others found.
    Prints one document, the verdict and every reason first (`--format markdown` is the
    pull-request comment). Exit 0 when every check passes, 1 when one fails, 2 on bad input
    (BASE unknown, --expect unreadable) or a set the proof refuses, 3 on an internal or
    encoding error."""
    started = time.perf_counter()
    review = run_review(base, policies.path(), fail_on, expect_file, prove, min_coverage)
    click.echo(RENDER[output_format](review), nl=output_format != "markdown")
    click.echo(f"authz review: {_count(review)} in {time.perf_counter() - started:.1f} s", err=True)
    raise SystemExit(review.exit_code)


def run_review(
    base: str,
    directory: Path,
    fail_on: str | None = None,
    expect_file: Path | None = None,
    prove: bool = True,
    min_coverage: float | None = None,
) -> Review:
    review = Review(base, directory)
    checks = review.checks
    policy_set = _validate(directory, checks)
    checks.append(_guarded("authz lint", lambda c: _lint(directory, c)))
    checks.append(_guarded("authz fmt --check", lambda c: _fmt(directory, c)))
    unloaded = "the set does not validate"
    if policy_set is None:
        for command in ("authz test", "authz verify", _diff_command(prove, fail_on, expect_file)):
            checks.append(Check(command, unloaded, code=None))
        return review
    checks.append(_guarded("authz test", lambda c: _test(policy_set, min_coverage, c)))
    checks.append(_guarded("authz verify", lambda c: _verify(policy_set, c), False))
    command = _diff_command(prove, fail_on, expect_file)
    checks.append(
        _guarded(command, lambda c: _diff(review, base, fail_on, expect_file, prove, c), False)
    )
    return review


def _diff_command(prove: bool, fail_on: str | None, expect_file: Path | None) -> str:
    return " ".join(
        ["authz diff"]
        + (["--prove"] if prove else [])
        + ([f"--fail-on {fail_on}"] if fail_on else [])
        + ([f"--expect {expect_file}"] if expect_file else [])
    )


def _guarded(command: str, run: Callable[[Check], None], of_the_set: bool = True) -> Check:
    """One check, whatever it raises: an engine error is its reason, anything else an
    internal error, exit 3; never the end of the review. An engine error about the set under
    review (a file that does not parse, a suite that does not load) is the change's fault, so
    the check fails (1) where its own command would exit 2; verify's and the diff's
    (`of_the_set` False: BASE unknown, --expect unreadable, a set the proof refuses) keep
    their own code."""
    check = Check(command)
    try:
        run(check)
    except AuthzError as exc:
        check.code = DENY if of_the_set and exc.exit_code == BAD_INPUT else exc.exit_code
        check.result = (
            f"error (exit {exc.exit_code})"
            if check.code != DENY
            else "cannot run on the set as it is"
        )
        check.reasons = list(exc.problems) or [str(exc)]
    except Exception as exc:  # the review reports it and goes on
        check.code = INTERNAL
        check.result = "internal error (exit 3)"
        check.reasons = [f"internal error: {type(exc).__name__}: {exc}"]
    return check


def _validate(directory: Path, checks: list[Check]) -> PolicySet | None:
    """A set that does not build is the change's fault (exit 1 here, every problem a reason),
    not the command's input: the review goes on with what needs no built set."""
    check = Check("authz validate")
    checks.append(check)
    try:
        policy_set = resolve_policies(PolicyRef.directory(directory)).policies
    except AuthzError as exc:
        check.code = DENY if exc.exit_code == BAD_INPUT else exc.exit_code
        check.reasons = list(exc.problems) or [str(exc)]
        check.result = _plural(len(check.reasons), "problem")
        return None
    permits = sum(1 for p in policy_set.policies.values() if p.effect == "permit")
    check.result = (
        f"{len(policy_set.policies)} policies ({permits} permit, "
        f"{len(policy_set.policies) - permits} forbid) in {len(policy_set.texts)} files "
        "validate against the schema"
    )
    return policy_set


def _lint(directory: Path, check: Check) -> None:
    findings = lint_policies(directory)
    check.reasons = findings
    check.code = DENY if findings else ALLOW
    check.result = _plural(len(findings), "finding")


def _fmt(directory: Path, check: Check) -> None:
    changes = unformatted(directory)
    check.reasons = [
        f"{_shown(path)}: not in Cedar's format (`authz fmt` rewrites it)" for path in changes
    ]
    check.code = DENY if changes else ALLOW
    check.result = (
        f"{_plural(len(changes), 'file')} to reformat" if changes else "every .cedar file formatted"
    )


def _test(policy_set: PolicySet, minimum: float | None, check: Check) -> None:
    from suite_authz.cli.commands.test import failures

    run = run_suites([policy_set.directory / "tests"], policy_set)
    check.reasons = failures(run)
    passed = len(run.results) - len(run.failed)
    check.result = f"{passed} passed, {len(run.failed)} failed; coverage {run.coverage:.1f}%"
    if minimum is not None and run.coverage < minimum:
        check.reasons.append(
            f"coverage {run.coverage:.1f}% is below --min-coverage {minimum:g}% (never "
            f"determining: {', '.join(f'`{p}`' for p in run.uncovered)})"
        )
    check.code = DENY if check.reasons else ALLOW


def _verify(policy_set: PolicySet, check: Check) -> None:
    from suite_authz.cli.commands.verify import counterexample_lines
    from suite_authz.engine.review import verify_theorems

    verdicts = verify_theorems(policy_set)
    failed = [v for v in verdicts if not v.holds]
    check.reasons = [
        f"{v.theorem.id} fails ([{v.theorem.rule}] {v.theorem.statement}): "
        + "; ".join(counterexample_lines(v))
        for v in failed
    ]
    check.code = DENY if failed else ALLOW
    check.result = f"{len(verdicts)} theorems, {len(verdicts) - len(failed)} hold"


def _diff(
    review: Review,
    base: str,
    fail_on: str | None,
    expect_file: Path | None,
    prove: bool,
    check: Check,
) -> None:
    from suite_authz.cli.commands.diff import compared

    report, proven, union, verdict = compared(
        base, str(review.directory), (), None, fail_on, expect_file, prove
    )
    review.diff = (report, proven, union, verdict)
    check.reasons = [
        *(f"encoding error: {c}" for c in verdict.contradictions),
        *verdict.problems,
    ]
    check.code = verdict.exit_code
    shown = union if union is not None else report
    check.result = (
        f"{_plural(len(shown.widenings), 'widening')} and "
        f"{_plural(len(shown.narrowings), 'narrowing')}"
        + (" (enumerated and proven)" if union is not None else "")
    )


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _count(review: Review) -> str:
    failed = [c for c in review.checks if c.failed]
    return f"{len(review.checks) - len(failed)} of {len(review.checks)} checks passed"


# -- rendering ------------------------------------------------------------------------------------


def _verdict_head(review: Review) -> tuple[str, list[tuple[Check, str]]]:
    reasons = [(c, r) for c in review.checks for r in c.reasons if c.failed]
    code = review.exit_code
    if code == ALLOW:
        return f"Passes: {_count(review)}", []
    failed = [c.command for c in review.checks if c.failed]
    what = {INTERNAL: "Internal or encoding error", BAD_INPUT: "Cannot review"}.get(code, "Fails")
    n = len(reasons)
    return f"{what} (exit {code}): {_plural(n, 'reason')}, from {', '.join(failed)}", reasons


def render_markdown(review: Review) -> str:
    """The pull-request comment: the verdict and every reason it failed; a table of the
    checks; then who gains and who loses what (commands/diff.py's markdown, under this
    verdict)."""
    from suite_authz.cli.render_diff import markdown_changes

    head, reasons = _verdict_head(review)
    out = [f"### Policy review: `{review.base}` → `{review.directory}`", "", f"**{head}**", ""]
    for check, reason in reasons:
        out.append(f"- `{check.command}`: {_inline(reason)}")
    if reasons:
        out.append("")
    out += ["| check | result |", "| --- | --- |"]
    for check in review.checks:
        mark = "not run" if check.code is None else "fails" if check.failed else "passes"
        out.append(f"| `{check.command}` | {mark}: {_inline(check.result)} |")
    out.append("")
    if review.diff is not None:
        report, proven, union, verdict = review.diff
        out += [f"#### What changes: `{report.base}` → `{report.head}`", ""]
        out += markdown_changes(report, proven, union, False, verdict)
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    """One line of a list item or a table cell, whatever the reason holds."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_text(review: Review) -> str:
    from suite_authz.cli.render_diff import render_text as diff_text

    head, reasons = _verdict_head(review)
    out = [head]
    out += [f"  {check.command}: {reason}" for check, reason in reasons]
    for check in review.checks:
        mark = "not run" if check.code is None else "FAILS" if check.failed else "passes"
        out.append(f"{mark:<8} {check.command}: {check.result}")
    if review.diff is not None:
        report, proven, union, verdict = review.diff
        out.append(diff_text(report, proven, union, False, verdict))
    return "\n".join(out)


def render_json(review: Review) -> str:
    from suite_authz.cli.render_diff import render_json as diff_json

    diff = None
    if review.diff is not None:
        report, proven, union, verdict = review.diff
        diff = json.loads(diff_json(report, proven, union, False, verdict))
    return json.dumps(
        {
            "exit": review.exit_code,
            "base": review.base,
            "policies": str(review.directory),
            "checks": [
                {
                    "command": c.command,
                    "ran": c.code is not None,
                    "exit": c.code,
                    "result": c.result,
                    "reasons": c.reasons,
                }
                for c in review.checks
            ],
            "diff": diff,
        },
        indent=2,
    )


RENDER: dict[str, Callable[[Review], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}
