"""The client is typed for its users: it ships `py.typed`, and a CRM's code using it passes
`mypy --strict` (tests/client_typing/usage.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

USAGE = ROOT / "tests" / "client_typing" / "usage.py"


def test_the_client_ships_py_typed() -> None:
    assert (ROOT / "client" / "py.typed").is_file()


def test_a_users_code_passes_mypy_strict(tmp_path: Path) -> None:
    # the user's own settings, not the project's: strict, nothing else
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config),
         "--cache-dir", str(tmp_path / "cache"), str(USAGE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
