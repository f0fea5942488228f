"""authz test: run YAML policy test suites; `N passed, M failed`; exit 1 when any fail."""

from __future__ import annotations

from pathlib import Path

import click

from cli.exits import ALLOW, DENY, Trouble
from cli.options import policies_option
from engine import AuthzError
from engine.engine import BACKENDS
from engine.policies import load_policies
from engine.suites import junit_xml, run_suites


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
def test_command(
    paths: tuple[Path, ...],
    policies_dir: Path | None,
    backend: str,
    junit_file: Path | None,
    coverage: bool,
    min_coverage: float | None,
) -> None:
    """Run policy test suites (default: the policy set's tests/ directory)."""
    try:
        policies = load_policies(policies_dir)
        run = run_suites(list(paths) or [policies.directory / "tests"], policies, backend)
    except AuthzError as exc:
        raise Trouble(exc) from None
    for result in run.failed:
        click.echo(f"FAIL {result.case.where}: {result.case.name}: {'; '.join(result.problems)}")
    if junit_file is not None:
        junit_file.write_text(junit_xml(run), encoding="utf-8")
    short = False
    if coverage or min_coverage is not None:
        if backend != "cedar":
            raise Trouble("--coverage counts Cedar policies: use it with --backend cedar")
        total = len(run.policy_ids)
        click.echo(
            f"coverage: {run.coverage:.1f}% of policies determining in some case "
            f"({total - len(run.uncovered)} of {total})"
        )
        for pid in run.uncovered:
            info = policies.policies[pid]
            click.echo(f"  never determining: {info.file}:{info.line}: policy `{pid}`")
        short = min_coverage is not None and run.coverage < min_coverage
        if short:
            click.echo(f"coverage {run.coverage:.1f}% is below --min-coverage {min_coverage:g}%")
    passed = len(run.results) - len(run.failed)
    click.echo(f"{passed} passed, {len(run.failed)} failed")
    raise SystemExit(DENY if run.failed or short else ALLOW)
