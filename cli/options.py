"""Options several commands share, spelled once."""

from __future__ import annotations

from pathlib import Path

import click

policies_option = click.option(
    "--policies",
    "policies_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Policy directory (default: the shipped policies).",
)

served_policies_option = click.option(
    "--policies",
    "policies_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Policy directory (default: what a server over the store serves: the active "
    "published set, else the shipped one).",
)

store_option = click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path),
    default=None,
    help="The org store (default: $AUTHZ_STORE, else .authz/orgs.sqlite3).",
)


def org_option(required: bool, help: str) -> click.decorators.FC:  # type: ignore[name-defined]
    return click.option(
        "--org", "org_file", required=required, type=click.Path(path_type=Path), help=help
    )


def decision_log_option(help: str) -> click.decorators.FC:  # type: ignore[name-defined]
    return click.option("--decision-log", type=click.Path(path_type=Path), default=None, help=help)
