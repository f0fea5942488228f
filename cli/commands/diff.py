"""authz diff BASE HEAD: who gains or loses what between two policy sets."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.loading import ORG, ORG_RULE, OrgRef, org_source
from suite_authz.cli.options import format_option, store_option
from suite_authz.cli.render_diff import Verdict, render_json, render_markdown, render_text
from suite_authz.cli.terminal import progress
from suite_authz.engine.core import AuthzError, PolicySet
from suite_authz.engine.review import DiffReport, default_orgs, load_expected
from suite_authz.engine.review import semantic_diff as diff
from suite_authz.engine.review import unexpected_changes as unexpected
from suite_authz.engine.sources import PolicyRef, Source, resolve_policies
from suite_authz.engine.store import OrgStore, StoreLocation

RENDER = {"text": render_text, "markdown": render_markdown, "json": render_json}


@click.command(name="diff")
@click.argument("base")
@click.argument("head")
@click.option(
    "--org",
    "orgs",
    multiple=True,
    type=ORG,
    help=f"Also compare on this org (repeatable). ORG is {ORG_RULE}.",
)
@store_option
@format_option("markdown")
@click.option(
    "--fail-on",
    type=click.Choice(("non-member-gain", "any-widening")),
    default=None,
    help="Exit 1 when a non-member gains anything, or when anyone does.",
)
@click.option(
    "--expect",
    "expect_file",
    type=click.Path(path_type=Path),
    default=None,
    help="JSON list of the intended changes (groups with who, action, type, was, now).",
)
@click.option(
    "--prove",
    is_flag=True,
    help="Also prove, over every org the model allows and every request, what "
    "HEAD allows that BASE denies and the reverse, each with a counterexample Cedar confirms; "
    "--fail-on and --expect then judge the proven and the enumerated changes together, and an "
    "enumerated change the proof says cannot happen is an encoding error (exit 3).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="One line per group (who, action, type, was, now) under each rolled-up line.",
)
def diff_command(
    base: str,
    head: str,
    orgs: tuple[OrgRef, ...],
    store_path: StoreLocation | None,
    output_format: str,
    fail_on: str | None,
    expect_file: Path | None,
    prove: bool,
    verbose: bool,
) -> None:
    """Compare two policy sets by decisions. BASE and HEAD are each a directory, a git
    revision (its policies/; `git:REV` says so, and a bare name that is also a directory is
    refused), `shipped`, `history:NAME` (the shipped history), `active` (the
    store's active version) or `store:VERSION` (a published one). Exit 0 when no guard fails,
    1 when one does, 2 on bad input or a set the proof refuses, 3 on an internal or encoding
    error."""
    started = time.perf_counter()
    try:
        report, proven, union, verdict = compared(
            base, head, orgs, store_path, fail_on, expect_file, prove
        )
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    click.echo(RENDER[output_format](report, proven, union, verbose, verdict))
    for contradiction in verdict.contradictions:
        click.echo(f"authz diff: encoding error: {contradiction}", err=True)
    for problem in verdict.problems:
        click.echo(f"authz diff: {problem}", err=True)
    click.echo(
        f"compared {report.compared} requests in {time.perf_counter() - started:.1f} s", err=True
    )
    raise SystemExit(verdict.exit_code)


def compared(
    base: str,
    head: str,
    orgs: tuple[OrgRef, ...] = (),
    store_path: StoreLocation | None = None,
    fail_on: str | None = None,
    expect_file: Path | None = None,
    prove: bool = False,
) -> tuple[DiffReport, DiffReport | None, DiffReport | None, Verdict]:
    """The diff and what the guards make of it: the enumerated report, under `prove` the
    proven one and the union the guards judge, and the verdict (`authz review` renders the
    same). Raises AuthzError on bad input or a set the proof refuses."""
    expected = load_expected(expect_file) if expect_file else None
    with tempfile.TemporaryDirectory(prefix="authz-diff-") as work:
        old, new = (
            _side(spec, store_path, Path(work), side)
            for spec, side in ((base, "base"), (head, "head"))
        )
        extra = [(ref.label, org_source(ref, store_path)[0]) for ref in orgs]
        # the proof first: a set it refuses is refused in seconds, before the enumeration
        proven = _proven(old, new, base, head) if prove else None
        with progress("comparing decisions") as bar:
            report = diff(old, new, default_orgs(new, extra), base, head, bar)
    union = _judged(report, proven) if proven is not None else None
    guards = tuple(
        guard
        for guard, given in (
            (f"--fail-on {fail_on}", fail_on),
            (f"--expect {expect_file}", expect_file),
        )
        if given
    )
    verdict = Verdict(
        guards,
        tuple(unexpected(union or report, fail_on, expected)),
        union.contradictions if union is not None else (),
    )
    return report, proven, union, verdict


# The prover (z3) is loaded only when asked for: a diff without --prove never pays for it
# (tests/cli/test_startup.py).
def _proven(old: PolicySet, new: PolicySet, base: str, head: str) -> DiffReport:
    from suite_authz.engine.review import proven_diff

    return proven_diff(old, new, base, head)[0]


def _judged(report: DiffReport, proven: DiffReport) -> DiffReport:
    from suite_authz.engine.review import merged_report

    return merged_report(report, proven)


def _side(spec: str, store_path: StoreLocation | None, work: Path, side: str) -> PolicySet:
    """One side's set; its errors say which side (a broken base is not the change's fault,
    and a review must not read it as the head's)."""
    try:
        ref = PolicyRef.parse(spec)
        if ref.kind not in (Source.ACTIVE, Source.STORED):
            return resolve_policies(ref, workdir=work).policies
        store = OrgStore(store_path)
        try:
            return resolve_policies(ref, store).policies
        finally:
            store.close()
    except AuthzError as exc:
        problems = tuple(f"{side}: {problem}" for problem in exc.problems)
        raise type(exc)(f"{side}: {exc}", problems) from None
