"""What only a person at a terminal sees: progress on stderr and colour on stdout.

Both only on a TTY, so a pipe, a file or CI gets the same bytes every time; colour never
with NO_COLOR set to a value other than an empty one (https://no-color.org: "when present and
not an empty string").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

Progress = Callable[[int, int], None]


def _tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def coloured(text: str, fg: str, *, bold: bool = False) -> str:
    """`text` in colour when stdout is a terminal and NO_COLOR is unset or empty, else as it
    is."""
    if os.environ.get("NO_COLOR") or not _tty(sys.stdout):
        return text
    return click.style(text, fg=fg, bold=bold)


@contextmanager
def progress(label: str, quiet: bool = False) -> Iterator[Progress | None]:
    """A bar on stderr fed by `(done, total)`, or None (nothing to call) when stderr is not a
    terminal or the command was asked to be quiet."""
    if quiet or not _tty(sys.stderr):
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:
        shown = 0

        def update(done: int, total: int) -> None:
            nonlocal shown
            bar.length = max(total, 1)
            bar.update(done - shown)
            shown = done

        yield update
