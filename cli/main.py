"""authz: the command line. Each command parses, calls the engine, prints, exits."""

from __future__ import annotations

import os
import traceback
from importlib import import_module
from typing import Any

import click

from suite_authz.cli.exits import INTERNAL, CommandFailed
from suite_authz.engine.core import AuthzError


def _version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    """`authz --version`: the version, and where the shipped policies are (an install puts them
    inside the package, where nobody would look)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from suite_authz.engine.core import default_policies_dir

    try:
        shipped = str(default_policies_dir())
    except AuthzError as exc:
        shipped = f"none ({exc})"
    click.echo(f"authz (suite-authz) {version('suite-authz')}")
    click.echo(f"shipped policies: {shipped}")
    click.echo(f"examples:         {shipped}/examples")
    ctx.exit()


# Each command's module is imported when that command runs (or its help is shown), never all of
# them up front: `authz explain` must not pay for z3, oso or uvicorn (tests/cli/test_startup.py).
COMMANDS = {
    "crosscheck": "crosscheck:crosscheck",
    "diff": "diff:diff_command",
    "explain": "explain:explain",
    "fleet": "fleet:fleet",
    "fmt": "review:format_command",
    "init": "init:init",
    "keys": "keys:keys",
    "lint": "review:lint",
    "migrate": "migrate:migrate",
    "org": "org:org",
    "plan": "plan:plan",
    "policy": "policy:policy",
    "review": "review_change:review_command",
    "serve": "serve:serve",
    "store": "store:store",
    "test": "test:test_command",
    "validate": "validate:validate",
    "verify": "verify:verify",
}


class AuthzGroup(click.Group):
    """The one place errors become exit codes: an engine error is its own (exits.py), any
    other exception an internal error, exit 3, named in one line (the traceback with --debug
    or AUTHZ_DEBUG=1). Never 1, which a script reads as a deny."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(import_module(f"suite_authz.cli.commands.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except AuthzError as exc:
            raise CommandFailed(exc) from None
        except Exception as exc:
            if _debugging(ctx):
                traceback.print_exc()
                hint = ""
            else:
                hint = " (--debug or AUTHZ_DEBUG=1 prints the traceback)"
            click.echo(f"authz: internal error: {type(exc).__name__}: {exc}{hint}", err=True)
            ctx.exit(INTERNAL)


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("AUTHZ_DEBUG", "") not in ("", "0")


@click.group(cls=AuthzGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    help="On an internal error, print the traceback (also AUTHZ_DEBUG=1).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Show the version and where the shipped policies are, and exit.",
)
def cli(debug: bool) -> None:
    """suite-authz: who may do what when a CRM acts on finance-suite data, and as whom."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
