"""Exit codes, in one place, as grep has them: 0 allow, 1 deny, 2 bad input or usage."""

import click

from suite_authz.engine import AuthzError

ALLOW = 0
DENY = 1
TROUBLE = 2


class Trouble(click.ClickException):
    """Bad input: one line on stderr, exit code 2."""

    exit_code = TROUBLE

    def __init__(self, error: AuthzError | str) -> None:
        super().__init__(str(error))
        self.problems: tuple[str, ...] = (
            error.problems if isinstance(error, AuthzError) else (str(error),)
        )

    def show(self, file: object = None) -> None:
        click.echo(f"authz: {self.message}", err=True)
        if len(self.problems) > 1:
            for problem in self.problems:
                click.echo(f"  {problem}", err=True)
