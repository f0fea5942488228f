"""Did-you-mean, as click does for subcommands: one close spelling, never a guess acted on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` when one known name is close to `value`, else ``."""
    if not isinstance(value, str) or not value:
        return ""
    known = list(choices)
    close = difflib.get_close_matches(value.lower(), known, n=1, cutoff=0.75)
    if not close:
        # `estimates` for `estimate`: a plural or a stray letter at the end
        close = [k for k in known if value.lower().rstrip("s") == k.rstrip("s")][:1]
    return f"; did you mean `{close[0]}`?" if close else ""
