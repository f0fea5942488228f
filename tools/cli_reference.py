"""Write the generated half of docs/cli.md: every `authz` command's `--help`, as click prints it.

    python tools/cli_reference.py          # rewrite docs/cli.md below its marker (make docs)
    python tools/cli_reference.py --check  # exit 1 if docs/cli.md has drifted from --help

The text above the marker is written by hand; tests/cli/test_docs.py fails when the half below
it is not what this prints, so a changed option or docstring reaches the docs in the same commit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from suite_authz.cli.main import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
MARKER = (
    "<!-- Generated from `authz --help` by tools/cli_reference.py (make docs): do not edit "
    "below this line; tests/cli/test_docs.py fails when it drifts. -->"
)
WIDTH = 100


def commands() -> Iterator[tuple[tuple[str, ...], click.Context]]:
    """(path, context) of the group and of every command under it, in the order `--help`
    lists them; each context has its parents, so usage lines read `authz policy publish`."""

    def walk(
        command: click.Command, path: tuple[str, ...], parent: click.Context | None
    ) -> Iterator[tuple[tuple[str, ...], click.Context]]:
        ctx = command.make_context(
            path[-1] if path else "authz",
            [],
            parent=parent,
            resilient_parsing=True,  # no required option asked for: only the help is wanted
            terminal_width=WIDTH,
            max_content_width=WIDTH,
        )
        yield path, ctx
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, (*path, name), ctx)

    yield from walk(cli, (), None)


def reference() -> str:
    lines = [MARKER, "", "## Reference", ""]
    for path, ctx in commands():
        lines += [f"### `{' '.join(('authz', *path))}`", "", "```text", ctx.get_help(), "```", ""]
    return "\n".join(lines)


def current() -> str:
    """docs/cli.md as it should be: its hand-written half, then the reference."""
    text = DOC.read_text(encoding="utf-8")
    head = text.split(MARKER, 1)[0].rstrip("\n")
    return f"{head}\n\n{reference()}"


def main(argv: list[str]) -> int:
    wanted = current()
    if "--check" in argv:
        if DOC.read_text(encoding="utf-8") != wanted:
            print(f"{DOC}: out of date with `authz --help`: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
