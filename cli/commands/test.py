"""authz test: run YAML policy test suites; `N passed, M failed`; exit 1 when any fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from suite_authz.cli.exits import ALLOW, DENY, CommandFailed
from suite_authz.cli.options import format_option, policies_option
from suite_authz.engine.core import BACKENDS, AuthzError, PolicySet
from suite_authz.engine.review import SuiteRun, junit_xml, run_suites
from suite_authz.engine.sources import PolicyRef, resolve_policies


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@policies_option
@click.option("--backend", type=click.Choice(BACKENDS), default="cedar", show_default=True)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write JUnit XML here.",
)
@click.option(
    "--coverage", is_flag=True, help="Name the policies (by @id) that no case made determining."
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PCT",
    help="Fail when fewer than PCT % of the policies were determining in some case.",
)
@format_option()
def test_command(
    output_format: str,
    paths: tuple[Path, ...],
    policies: PolicyRef,
    backend: str,
    junit_file: Path | None,
    coverage: bool,
    min_coverage: float | None,
) -> None:
    """Run policy test suites (default: the policy set's tests/ directory)."""
    try:
        policy_set = resolve_policies(policies).policies
        run = run_suites(list(paths) or [policy_set.directory / "tests"], policy_set, backend)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if junit_file is not None:
        junit_file.write_text(junit_xml(run), encoding="utf-8")
    counted = coverage or min_coverage is not None
    if counted and backend != "cedar":
        raise CommandFailed("--coverage counts Cedar policies: use it with --backend cedar")
    short = counted and min_coverage is not None and run.coverage < min_coverage
    passed = len(run.results) - len(run.failed)
    if output_format == "json":
        click.echo(json.dumps(_summary(run, policy_set, counted, min_coverage, short), indent=2))
        raise SystemExit(DENY if run.failed or short else ALLOW)
    for line in failures(run):
        click.echo(f"FAIL {line}")
    if counted:
        total = len(run.policy_ids)
        click.echo(
            f"coverage: {run.coverage:.1f}% of policies determining in some case "
            f"({total - len(run.uncovered)} of {total})"
        )
        for pid in run.uncovered:
            info = policy_set.policies[pid]
            click.echo(f"  never determining: {info.file}:{info.line}: policy `{pid}`")
        if short:
            click.echo(f"coverage {run.coverage:.1f}% is below --min-coverage {min_coverage:g}%")
    click.echo(f"{passed} passed, {len(run.failed)} failed")
    raise SystemExit(DENY if run.failed or short else ALLOW)


def failures(run: SuiteRun) -> list[str]:
    """Each failing case in one line: its suite and index, its name, what was expected and
    what came (`authz review` says the same)."""
    return [f"{r.case.where}: {r.case.name}: {'; '.join(r.problems)}" for r in run.failed]


def _summary(
    run: SuiteRun, policies: PolicySet, counted: bool, minimum: float | None, short: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "passed": len(run.results) - len(run.failed),
        "failed": len(run.failed),
        "failures": [
            {"where": r.case.where, "name": r.case.name, "problems": list(r.problems)}
            for r in run.failed
        ],
        "coverage": None,
    }
    if counted:
        out["coverage"] = {
            "percent": round(run.coverage, 1),
            "policies": len(run.policy_ids),
            "never_determining": [
                {
                    "id": pid,
                    "file": policies.policies[pid].file,
                    "line": policies.policies[pid].line,
                }
                for pid in run.uncovered
            ],
            "minimum": minimum,
            "below_minimum": short,
        }
    return out
