"""authz: the command line. Each command parses, calls the engine, prints, exits."""

from __future__ import annotations

import os
import traceback
from importlib.metadata import version
from typing import Any

import click

from suite_authz.cli.commands.crosscheck import crosscheck
from suite_authz.cli.commands.diff import diff_command
from suite_authz.cli.commands.explain import explain
from suite_authz.cli.commands.keys import keys
from suite_authz.cli.commands.migrate import migrate
from suite_authz.cli.commands.org import org
from suite_authz.cli.commands.policy import policy
from suite_authz.cli.commands.review import fmt, lint
from suite_authz.cli.commands.serve import serve
from suite_authz.cli.commands.store import store
from suite_authz.cli.commands.test import test_command
from suite_authz.cli.commands.validate import validate
from suite_authz.cli.commands.verify import verify
from suite_authz.cli.exits import INTERNAL, Trouble
from suite_authz.engine import AuthzError, default_policies_dir


def _version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    """`authz --version`: the version, and where the shipped policies are (an install puts them
    inside the package, where nobody would look)."""
    if not value or ctx.resilient_parsing:
        return
    try:
        shipped = str(default_policies_dir())
    except AuthzError as exc:
        shipped = f"none ({exc})"
    click.echo(f"authz (suite-authz) {version('suite-authz')}")
    click.echo(f"shipped policies: {shipped}")
    click.echo(f"examples:         {shipped}/examples")
    ctx.exit()


class AuthzGroup(click.Group):
    """The one place errors become exit codes: an engine error is its own (exits.py), any
    other exception an internal error, exit 3, named in one line (the traceback with --debug
    or AUTHZ_DEBUG=1). Never 1, which a script reads as a deny."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except AuthzError as exc:
            raise Trouble(exc) from None
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


cli.add_command(crosscheck)
cli.add_command(diff_command)
cli.add_command(explain)
cli.add_command(keys)
cli.add_command(migrate)
cli.add_command(org)
cli.add_command(policy)
cli.add_command(fmt)
cli.add_command(lint)
cli.add_command(serve)
cli.add_command(store)
cli.add_command(test_command)
cli.add_command(validate)
cli.add_command(verify)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
