"""authz init [DIR]: a policy repository a user can review changes in from the first commit."""

from __future__ import annotations

from pathlib import Path

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.scaffold import WORKFLOW, package_version, planned, write
from suite_authz.engine.core import default_policies_dir


@click.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False
)
@click.option(
    "--empty",
    is_flag=True,
    help="Start from no permit of a right (the schema, the catalogue, the D1/D11 forbids, the "
    "obligations and the demo org) instead of the shipped policy set.",
)
@click.option("--force", is_flag=True, help="Overwrite files that are already there.")
def init(directory: Path, empty: bool, force: bool) -> None:
    """Scaffold a policy repository in DIRECTORY (default: here): policies/ (the shipped
    set to start from, or --empty), policies/tests/ with an example suite, a
    .pre-commit-config.yaml running the published hooks, and .github/workflows/authz-review.yml,
    which installs this version of suite-authz and posts `authz review` against the base
    branch as one pull-request comment. Refuses (exit 2) to overwrite a file unless --force."""
    version = package_version()
    plan = planned(default_policies_dir(), empty, version)
    there = [path for path in plan if (directory / path).exists()]
    if there and not force:
        raise CommandFailed(
            f"{directory / there[0]} is already there"
            + (f" (and {len(there) - 1} more of the files init writes)" if len(there) > 1 else "")
            + ": nothing written; --force overwrites them"
        )
    write(directory, plan)
    policies = sorted(p for p in plan if p.parts[0] == "policies")
    click.echo(f"wrote {len(policies)} files under {directory / 'policies'}/ ", nl=False)
    click.echo("(an empty set: no permit yet)" if empty else "(the shipped set, to start from)")
    for path in plan:
        if path.parts[0] != "policies" or path.parts[:2] == ("policies", "tests"):
            click.echo(f"wrote {directory / path}")
    if there:
        click.echo(f"overwrote {len(there)} files that were there (--force)")
    steps = [] if directory.resolve() == Path.cwd().resolve() else [f"cd {directory}"]
    if not (directory / ".git").exists():
        steps.append("git init")
    steps += [
        f"git add -A; git commit -m 'policies, reviewed by suite-authz {version}'",
        "authz review HEAD   # what a pull request's review will run (against HEAD here)",
        "pip install pre-commit && pre-commit install   # the same checks on every commit",
        f"push it: a pull request touching policies/ gets the review as one comment ({WORKFLOW})",
    ]
    click.echo("next:\n" + "\n".join(f"  {step}" for step in steps))
