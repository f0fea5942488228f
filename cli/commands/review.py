"""authz fmt and authz lint: the policy files as a reviewer wants them."""

from __future__ import annotations

import difflib
import json
import re

import click

from suite_authz.cli.exits import ALLOW, DENY, CommandFailed
from suite_authz.cli.options import format_option, policies_option
from suite_authz.engine.core import AuthzError, is_installed_copy, load_policies, read_file
from suite_authz.engine.review import lint_policies as lint_findings
from suite_authz.engine.review import unformatted, why_unplannable
from suite_authz.engine.sources import PolicyRef


@click.command(name="fmt")
@policies_option
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option(
    "--diff", "show_diff", is_flag=True, help="Change nothing; print what would change (exit 1)."
)
@format_option()
def format_command(policies: PolicyRef, check: bool, show_diff: bool, output_format: str) -> None:
    """Format the .cedar files with Cedar's own formatter. Writes only into your own tree:
    ./policies or --policies DIR, never the installed package."""
    check = check or show_diff
    directory = policies.path()
    if not check and is_installed_copy(directory):
        raise CommandFailed(
            f"{directory}: the policy set installed with authz is not yours to rewrite: "
            "copy it into your repository's policies/"
        )
    try:
        changes = unformatted(directory)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    for path, text in changes.items():
        if not check:
            path.write_text(text, encoding="utf-8")
        if show_diff and output_format == "text":
            before = read_file(path, "a policy file", AuthzError).splitlines(keepends=True)
            after = text.splitlines(keepends=True)
            click.echo("".join(difflib.unified_diff(before, after, str(path), str(path))), nl=False)
        elif output_format == "text":
            click.echo(f"{'would reformat' if check else 'reformatted'} {path}")
    if output_format == "json":
        key = "would_reformat" if check else "reformatted"
        click.echo(json.dumps({"directory": str(directory), key: [str(p) for p in changes]}))
    elif not changes:
        click.echo(f"{directory}: every .cedar file is formatted")
    raise SystemExit(DENY if check and changes else ALLOW)


@click.command()
@policies_option
@format_option()
def lint(policies: PolicyRef, output_format: str) -> None:
    """Check every policy: @id, @rule naming a rule of docs/rules.md, @reason, unique ids, no
    permit without a condition on principal or resource, strict schema validation."""
    findings = lint_findings(policies.path())
    plans = None if findings else _plans(policies)
    if output_format == "json":
        out: dict[str, object] = {"findings": [_place(f) for f in findings]}
        if plans is not None:
            out["plans"] = {"on": plans == "", **({"reason": plans} if plans else {})}
        click.echo(json.dumps(out, indent=2))
    else:
        for finding in findings:
            click.echo(finding)
        click.echo(f"{len(findings)} findings")
        if plans is not None:
            click.echo(f"list views: {'planned' if not plans else 'asked per record: ' + plans}")
    raise SystemExit(DENY if findings else ALLOW)


def _plans(policies: PolicyRef) -> str:
    """ "" when list views are planned (engine/review/plannable.py), else why not: not a
    finding (the set decides as well), but what a list view will cost."""
    loaded = load_policies(policies.path())
    return why_unplannable(loaded.deciding.items()) or ""


def _place(finding: str) -> dict[str, object]:
    """`file:line: message` as its parts (a finding of the whole set has no file)."""
    match = re.match(r"^([^:\s]+):(\d+): (.*)$", finding, re.DOTALL)
    if match is None:
        return {"file": None, "line": None, "message": finding}
    return {"file": match[1], "line": int(match[2]), "message": match[3]}
