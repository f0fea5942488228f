"""authz store upgrade | check: the store's schema and integrity, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import click

from suite_authz.cli.exits import DENY, CommandFailed
from suite_authz.cli.options import format_option, store_option
from suite_authz.engine.core import AuthzError
from suite_authz.engine.store import (
    STORE_SCHEMA,
    OrgStore,
    StoreLocation,
    check_store,
    load_verifier,
)


@click.group()
def store() -> None:
    """The store itself: upgrade its schema, check what it holds."""


@store.command()
@store_option
@format_option()
def upgrade(store_path: StoreLocation | None, output_format: str) -> None:
    """Bring the store's schema to the version this release reads, in one transaction.

    Nothing stored is lost or changed, only the layout around it. Stop the sidecars of the
    older release first: they refuse a store newer than they read. A store already at this
    version is left as it is (exit 0); one newer than this release is refused (exit 2)."""
    try:
        opened = OrgStore(store_path, schema_check=False)
        try:
            before = opened.schema_version()
            applied = opened.upgrade()
        finally:
            opened.close()
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        steps = [{"version": v, "what": what} for v, what in applied]
        out = {"store": opened.where, "before": before, "after": STORE_SCHEMA, "applied": steps}
        click.echo(json.dumps(out, indent=2))
        return
    if not applied:
        click.echo(f"{opened.where}: schema version {STORE_SCHEMA} already; nothing to do")
        return
    click.echo(f"{opened.where}: schema version {before} -> {STORE_SCHEMA}")
    for version, what in applied:
        click.echo(f"  {version}  {what}")


@store.command()
@store_option
@format_option()
@click.option(
    "--verify-key",
    "verify_keys",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Also check that every org and policy version is signed by this Ed25519 public key "
    "(PEM; repeatable): what `authz serve --verify-key` would refuse.",
)
def check(
    store_path: StoreLocation | None, output_format: str, verify_keys: tuple[Path, ...]
) -> None:
    """Check the store read-only: schema version, the database's integrity, every org
    (digest, JSON, loads under the served catalogue), every policy version (its hash), the
    active one, the audit. Exit 0 when whole, 1 when anything is wrong, 2 if unreadable or
    not there: it creates nothing (a SQLite store is opened read-only)."""
    try:
        verifier = load_verifier(verify_keys) if verify_keys else None
        opened = OrgStore(store_path, schema_check=False, read_only=True)
        try:
            report = check_store(opened, verifier)
        finally:
            opened.close()
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(f"store     {report.where} ({report.driver})")
        click.echo(f"schema    version {report.schema} (this release reads {report.reads})")
        orgs = ", ".join(f"{i} v{v}" for i, v in sorted(report.orgs.items())) or "none"
        click.echo(f"orgs      {orgs}")
        click.echo(
            f"policies  {report.policy_versions} published, active: {report.active or 'none'}"
        )
        for problem in report.problems:
            click.echo(f"problem   {problem}")
        click.echo("ok" if report.ok else f"{len(report.problems)} problem(s)")
    if not report.ok:
        raise SystemExit(DENY)
