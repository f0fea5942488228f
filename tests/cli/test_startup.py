"""The CLI starts at once: a command imports what it uses and nothing else, so `authz explain`
never loads z3 (the prover), oso (the Polar encoding), the HTTP server or the store's signing
library. What start-up costs in seconds is bench/bench_review.py's (start-up questions): a test
asserts which modules load, never how long it takes on a shared machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import DEMO

HEAVY = ("z3", "oso", "polar", "uvicorn", "starlette", "jinja2", "psycopg", "cryptography")

# Runs the CLI in a fresh interpreter and reports, on its way out, which heavy modules loaded.
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED " + json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in heavy)), file=sys.stderr))
from suite_authz.cli.main import cli
cli({args!r}, prog_name="authz")
"""


def loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = [line for line in done.stderr.splitlines() if line.startswith("LOADED ")]
    assert report, done.stderr
    return sorted({m.split(".")[0] for m in json.loads(report[-1][len("LOADED ") :])})


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = (
        "import sys, suite_authz.cli.main, suite_authz.engine; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


DEMO_ASKS = f"--org {DEMO} --subject asha --action delete --resource estimate:est-1"
COMMANDS = {
    "version": "--version",
    "explain": f"explain {DEMO_ASKS}",
    "explain-json": f"explain {DEMO_ASKS} --format json",
    "validate": f"validate --org {DEMO}",
    "lint": "lint",
    "explain-help": "explain --help",
    # the enumerated diff: the prover only under --prove
    "diff": "diff history:2025-05 shipped --format json",
    "init-help": "init --help",
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_command_loads_only_what_it_uses(command: str) -> None:
    assert loaded(*command.split()) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: `authz verify` does load z3, and the probe says so."""
    assert "z3" in loaded("verify", "--shipped")
