"""Run the CLI in-process: exit code, stdout, stderr."""

from __future__ import annotations

from click.testing import CliRunner

from suite_authz.cli.main import cli
from tests.conftest import DEMO


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def explain(words: str, *extra: str) -> tuple[int, str, str]:
    """`explain("--subject asha --action view --resource estimate")` on the demo org."""
    return run("explain", "--org", str(DEMO), *words.split(), *extra)
