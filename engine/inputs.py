"""Reading the files and JSON texts the engine is given, with one shape of error for all:
the file's path (or the caller's name for the text) first, then what went wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import AuthzError


def read_file(path: Path, what: str, error: type[AuthzError]) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None


def decode_json(text: str, where: str, error: type[AuthzError]) -> Any:
    """`where` is the prefix of every message: "path: " or ""."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
