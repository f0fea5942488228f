"""Exit codes, in one place, the same for every command (docs/cli.md "Exit codes"):
0 allow or clean, 1 deny, findings, or a guard that failed, 2 bad input or usage (or a store
that does not answer: nothing was decided), 3 an internal error. A crash is never 1, which a
script reads as a deny."""

import click

from suite_authz.engine.core import AuthzError

ALLOW = 0
DENY = 1
BAD_INPUT = 2
INTERNAL = 3


class CommandFailed(click.ClickException):
    """A command that failed for a reason the user can act on (bad input, a refusal, a store
    that does not answer): one line on stderr, and the engine error's own exit code
    (engine/core/errors.py), else BAD_INPUT."""

    exit_code = BAD_INPUT

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
