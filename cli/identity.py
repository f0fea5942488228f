"""Who runs a command, for the record (publish, activate, import)."""

from __future__ import annotations

import getpass


def who(actor: str | None = None) -> str:
    """`actor` when given, else the login name, else `unknown`."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
