"""authz fmt and authz lint: the policy files as a reviewer wants them."""

from __future__ import annotations

from pathlib import Path

import click

import engine
from cli.exits import ALLOW, DENY, Trouble
from cli.options import policies_option, policy_choice_options, resolve_policies
from engine import AuthzError
from engine.fmt import unformatted
from engine.lint import lint as lint_findings


@click.command()
@policy_choice_options
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
def fmt(policies_dir: Path | None, shipped: bool, check: bool) -> None:
    """Format the .cedar files with Cedar's own formatter. Writes only into your own tree:
    ./policies or --policies DIR, never the installed package."""
    directory = resolve_policies(policies_dir, shipped, fallback=check)
    if not check and _installed(directory):
        raise Trouble(
            f"{directory}: the policy set installed with authz is not yours to rewrite: "
            "copy it into your repository's policies/"
        )
    try:
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


def _installed(directory: Path) -> bool:
    package = Path(engine.__file__).resolve().parent
    return package in (directory.resolve(), *directory.resolve().parents)


@click.command()
@policies_option
def lint(policies_dir: Path) -> None:
    """Check every policy: @id, @rule naming a rule of docs/rules.md, @reason, unique ids, no
    permit without a condition on principal or resource, strict schema validation."""
    findings = lint_findings(policies_dir)
    for finding in findings:
        click.echo(finding)
    click.echo(f"{len(findings)} findings")
    raise SystemExit(DENY if findings else ALLOW)
