"""authz diff BASE HEAD: who gains or loses what between two policy sets."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from suite_authz.cli.exits import ALLOW, DENY, Trouble
from suite_authz.cli.loading import ORG, ORG_RULE, OrgRef, org_source
from suite_authz.cli.options import format_option, store_option
from suite_authz.cli.render_diff import render_json, render_markdown, render_proven, render_text
from suite_authz.cli.terminal import progress
from suite_authz.engine import (
    AuthzError,
    StoreLocation,
    default_orgs,
    judged,
    load_expected,
    load_side,
    proven_diff,
)
from suite_authz.engine import semantic_diff as diff
from suite_authz.engine import unexpected_changes as unexpected

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
    "--fail-on and --expect then judge the proven changes too.",
)
def diff_command(
    base: str,
    head: str,
    orgs: tuple[OrgRef, ...],
    store_path: StoreLocation | None,
    fmt: str,
    fail_on: str | None,
    expect_file: Path | None,
    prove: bool,
) -> None:
    """Compare two policy sets (directories, or git revisions of policies/) by decisions."""
    started = time.perf_counter()
    try:
        expected = load_expected(expect_file) if expect_file else None
        with tempfile.TemporaryDirectory(prefix="authz-diff-") as work:
            old, new = load_side(base, Path(work)), load_side(head, Path(work))
            with progress("comparing decisions") as bar:
                extra = [(ref.label, org_source(ref, store_path)[0]) for ref in orgs]
                report = diff(old, new, default_orgs(new, extra), base, head, bar)
            proven = proven_diff(old, new, base, head)[0] if prove else None
    except AuthzError as exc:
        raise Trouble(exc) from None
    if proven is None:
        click.echo(RENDER[fmt](report))
        problems = unexpected(report, fail_on, expected)
    else:
        click.echo(render_proven(report, proven, fmt))
        problems = unexpected(judged(report, proven), fail_on, expected)
    for problem in problems:
        click.echo(f"authz diff: {problem}", err=True)
    click.echo(
        f"compared {report.compared} requests in {time.perf_counter() - started:.1f} s", err=True
    )
    raise SystemExit(DENY if problems else ALLOW)
