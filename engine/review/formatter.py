"""Format Cedar policy files with Cedar's own formatter, never changing what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import cedarpy

from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.reading import read_file

LINE_WIDTH = 100
INDENT = 2


def formatted(path: Path, text: str) -> str:
    """The file as Cedar formats it; refuses a result that parses to different policies."""
    try:
        out = cedarpy.format_policies(text, LINE_WIDTH, INDENT)
        same = json.loads(cedarpy.policies_to_json_str(out)) == json.loads(
            cedarpy.policies_to_json_str(text)
        )
    except ValueError as exc:
        raise PolicyError(f"{path}: cannot format: {exc}") from None
    if not same:
        raise PolicyError(f"{path}: formatting would change the policies; left as it is")
    return out if out.endswith("\n") else out + "\n"


def unformatted(directory: Path) -> dict[Path, str]:
    """Files whose text differs from Cedar's format, with the formatted text."""
    out = {}
    for path in sorted(directory.glob("*.cedar")):
        text = read_file(path, "a policy file", PolicyError)
        new = formatted(path, text)
        if new != text:
            out[path] = new
    return out
