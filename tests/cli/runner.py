"""Run the CLI in-process: exit code, stdout, stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from suite_authz.cli.main import cli
from tests.conftest import DEMO


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def explain(words: str, *extra: str) -> tuple[int, str, str]:
    """`explain("--subject asha --action view --resource estimate")` on the demo org."""
    return run("explain", "--org", str(DEMO), *words.split(), *extra)


BIN = Path(sys.executable).parent


def user_env(home: Path) -> dict[str, str]:
    """The environment of a user's shell in their own repository: this venv's `authz` first on
    PATH, a home of its own, a git identity, and nothing of the git, GitHub or pre-commit
    state the test run itself may have."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITHUB_", "PRE_COMMIT"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        PRE_COMMIT_HOME=str(home / "pre-commit"),
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
        NO_COLOR="1",
    )
    return env


def shell(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """A command as that user runs it: its exit code and output, never raising on failure."""
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
