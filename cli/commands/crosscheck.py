"""authz crosscheck: Cedar and Polar on an org's whole request space; exit 0 when they agree."""

from __future__ import annotations

import json
import time

import click

from suite_authz.cli.exits import ALLOW, DENY
from suite_authz.cli.loading import OrgRef, load_engine
from suite_authz.cli.options import format_option, org_option, policies_option, store_option
from suite_authz.cli.terminal import progress
from suite_authz.engine.core import Decision, Engine
from suite_authz.engine.review import run_crosscheck, space_size
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store import StoreLocation


def _answer(d: Decision) -> str:
    who = f" as {d.acting_as.user} in {d.acting_as.product}" if d.acting_as else ""
    rules = ", ".join(d.rules) or "no rule"
    why = "; ".join([*d.reasons, *(f"needed: {m}" for m in d.missing)])
    return f"{d.decision}{who} ({rules}): {why}"


@click.command()
@org_option(required=True, help="The org whose request space is compared.")
@store_option
@policies_option
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@format_option()
def crosscheck(
    org: OrgRef,
    store_path: StoreLocation | None,
    policies: PolicyRef,
    quiet: bool,
    output_format: str,
) -> None:
    """Ask the Cedar and the Polar encoding every request of an org and list disagreements."""
    cedar, _ = load_engine(org, policies, store_path, "cedar")
    polar = Engine(cedar.policies, cedar.org, "polar")
    total = space_size(cedar.org, cedar.policies)
    started = time.perf_counter()
    with progress("comparing", quiet) as bar:
        if bar is None:
            report = run_crosscheck(cedar, polar)
        else:
            report = run_crosscheck(cedar, polar, lambda done: bar(done, total))
    elapsed = time.perf_counter() - started
    if output_format == "json":
        out = {
            "org": cedar.org.id,
            "compared": report.compared,
            "disagreements": [
                {
                    "request": d.request.to_dict(),
                    "cedar": d.first.to_dict(),
                    "polar": d.second.to_dict(),
                }
                for d in report.disagreements
            ],
            "seconds": round(elapsed, 3),
        }
        click.echo(json.dumps(out, indent=2))
        raise SystemExit(ALLOW if not report.disagreements else DENY)
    for n, d in enumerate(report.disagreements, start=1):
        click.echo(f"disagreement {n}: {json.dumps(d.request.to_dict(), sort_keys=True)}")
        click.echo(f"  cedar: {_answer(d.first)}")
        click.echo(f"  polar: {_answer(d.second)}")
    click.echo(
        f"{report.compared} requests compared, {len(report.disagreements)} disagreements "
        f"({elapsed:.1f} s)"
    )
    raise SystemExit(ALLOW if not report.disagreements else DENY)
