"""authz keys generate: an Ed25519 key pair to sign stored rows with (engine/store/signing.py);
and the --signing-key option of the commands that store them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.engine.core import AuthzError
from suite_authz.engine.store import Signer, generate_keys, load_signer

F = TypeVar("F", bound=Callable[..., Any])


def signing_key_option(what: str) -> Callable[[F], F]:
    return click.option(
        "--signing-key",
        "signing_key",
        default=None,
        type=click.Path(path_type=Path),
        help=f"Sign {what} with this Ed25519 private key (PEM, mode 0600), for servers run "
        "with --verify-key (`authz keys generate`).",
    )


def signer_from(path: Path | None) -> Signer | None:
    """The key, read before anything is stored: a bad key must not leave an unsigned row."""
    return load_signer(path) if path is not None else None


@click.group()
def keys() -> None:
    """Keys that sign what `policy publish` and `org import` store."""


@keys.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for signing-key.pem (0600, keep it with the publisher) and verify-key.pem "
    "(for every server's --verify-key); neither may exist already.",
)
def generate(out: Path) -> None:
    """Make a new Ed25519 key pair (PEM; `openssl genpkey -algorithm ed25519` makes the same
    kind of private key)."""
    try:
        private, public, kid = generate_keys(out)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    click.echo(f"key `{kid}`: signing key {private} (keep it private), verify key {public}")
