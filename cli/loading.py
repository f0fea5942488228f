"""Load engine pieces for a command, turning load errors into exit code 2."""

from __future__ import annotations

from pathlib import Path

from cli.exits import Trouble
from engine import AuthzError, Engine


def load_engine(org_file: Path, policies_dir: Path | None, backend: str = "cedar") -> Engine:
    try:
        return Engine.load(org_file, policies_dir, backend)
    except AuthzError as exc:
        raise Trouble(exc) from None
