"""Exit codes, in one place, the same for every command (docs/cli.md "Exit codes"):
0 allow or clean, 1 deny, findings, or a guard that failed, 2 bad input or usage (or a store
that does not answer: nothing was decided), 3 an internal error. A crash is never 1, which a
script reads as a deny."""

import click

from suite_authz.engine.core import AuthzError

ALLOW = 0
DENY = 1
TROUBLE = 2
INTERNAL = 3


class Trouble(click.ClickException):
    """An error with its exit code (the engine error's own: engine/core/errors.py), one line on
    stderr."""

    exit_code = TROUBLE

    def __init__(self, error: AuthzError | str) -> None:
        super().__init__(str(error))
        self.problems: tuple[str, ...] = (
            error.problems if isinstance(error, AuthzError) else (str(error),)
        )
        if isinstance(error, AuthzError):
            self.exit_code = error.exit_code

    def show(self, file: object = None) -> None:
        click.echo(f"authz: {self.message}", err=True)
        if len(self.problems) > 1:
            for problem in self.problems:
                click.echo(f"  {problem}", err=True)
