"""authz fmt and authz lint: the policy files as a reviewer wants them."""

from __future__ import annotations

from pathlib import Path

import click

from cli.exits import ALLOW, DENY, Trouble
from cli.options import policies_option
from engine import AuthzError
from engine.fmt import unformatted
from engine.lint import lint as lint_findings
from engine.policies import default_policies_dir


@click.command()
@policies_option
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
def fmt(policies_dir: Path | None, check: bool) -> None:
    """Format the .cedar files with Cedar's own formatter."""
    try:
        directory = policies_dir or default_policies_dir()
        changes = unformatted(directory)
    except AuthzError as exc:
        raise Trouble(exc) from None
    for path, text in changes.items():
        if check:
            click.echo(f"would reformat {path}")
        else:
            path.write_text(text, encoding="utf-8")
            click.echo(f"reformatted {path}")
    if not changes:
        click.echo(f"{directory}: every .cedar file is formatted")
    raise SystemExit(DENY if check and changes else ALLOW)


@click.command()
@policies_option
def lint(policies_dir: Path | None) -> None:
    """Check every policy: @id, @rule naming a rule of docs/rules.md, @reason, unique ids, no
    permit without a condition on principal or resource, strict schema validation."""
    findings = lint_findings(policies_dir)
    for finding in findings:
        click.echo(finding)
    click.echo(f"{len(findings)} findings")
    raise SystemExit(DENY if findings else ALLOW)
