"""authz: the command line. Each command parses, calls the engine, prints, exits."""

from __future__ import annotations

import click

from cli.commands.crosscheck import crosscheck
from cli.commands.diff import diff_command
from cli.commands.explain import explain
from cli.commands.migrate import migrate
from cli.commands.org import org
from cli.commands.policy import policy
from cli.commands.review import fmt, lint
from cli.commands.serve import serve
from cli.commands.test import test_command
from cli.commands.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="suite-authz")
def cli() -> None:
    """suite-authz: who may do what when a CRM acts on finance-suite data, and as whom."""


cli.add_command(crosscheck)
cli.add_command(diff_command)
cli.add_command(explain)
cli.add_command(migrate)
cli.add_command(org)
cli.add_command(policy)
cli.add_command(fmt)
cli.add_command(lint)
cli.add_command(serve)
cli.add_command(test_command)
cli.add_command(validate)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
