"""authz org import | apply | export | list: org snapshots in the store (SQLite or PostgreSQL),
and the change sets applied to them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from suite_authz.cli.commands.keys import signer_from, signing_key_option
from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.identity import who as _who
from suite_authz.cli.options import format_option, served_policies_option, store_option
from suite_authz.engine.core import AuthzError, Catalogue, InvalidOrg, Unavailable, read_file
from suite_authz.engine.sources import PolicyRef, Source, resolve_catalogue
from suite_authz.engine.store import OrgStore, StoredOrg, StoreLocation


@click.group()
def org() -> None:
    """Org snapshots in the store: import, apply a change, export, list."""


@org.command(name="import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@click.option(
    "--replace",
    is_flag=True,
    help="Store FILE even when the org held it before (an older version): going back.",
)
@format_option()
@served_policies_option
@signing_key_option("the stored snapshot")
def import_(
    files: tuple[Path, ...],
    store_path: StoreLocation | None,
    replace: bool,
    output_format: str,
    policies: PolicyRef,
    signing_key: Path | None,
) -> None:
    """Validate each FILE whole, then store it as its org's next version.

    The snapshot already stored changes nothing (exit 0). A snapshot the org held before is
    refused (exit 1), since storing it again would quietly undo what came after it, such as a
    migration; --replace stores it anyway. FILE is checked against the set served from the
    store; if the store's active version does not load, only as JSON and an org's shape, and
    stored all the same, saying so: a revocation must land. With --signing-key, a snapshot
    already stored but not signed by that key is stored again as the next version, signed.

    Many FILEs (a directory stands for the *.json files in it, in name order) are imported in
    one process, each in a transaction of its own: a file refused is named on stderr and the
    others still land; the exit code is then the worst of the refusals'."""
    try:
        signer = signer_from(signing_key)
        paths = _snapshot_files(files)
        store = OrgStore(store_path)
        label = str(paths[0]) if len(paths) == 1 else f"the {len(paths)} snapshots"
        catalogue = _served_catalogue(policies, store, label)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    imported: list[dict[str, object]] = []
    refused: list[CommandFailed] = []
    for file in paths:
        try:
            text = read_file(file, "org snapshot", InvalidOrg)
            stored = store.import_snapshot(
                text, catalogue, where=str(file), replace=replace, actor=_who(), signer=signer
            )
        except Unavailable as exc:  # the store stopped answering: the rest cannot land either
            raise CommandFailed(exc) from None
        except AuthzError as exc:
            if len(paths) == 1:
                raise CommandFailed(exc) from None
            failed = CommandFailed(exc)
            failed.show()
            refused.append(failed)
            continue
        if output_format == "json":
            imported.append({**asdict(stored), "store": str(store.where)})
        else:
            _say_imported(stored, file, store)
    if output_format == "json" and (imported or len(paths) == 1):
        click.echo(json.dumps(imported[0] if len(paths) == 1 else imported, indent=2))
    if refused:
        click.echo(
            f"authz: {len(refused)} of {len(paths)} snapshots refused, {len(paths) - len(refused)} "
            "imported",
            err=True,
        )
        raise SystemExit(max(failed.exit_code for failed in refused))


def _snapshot_files(given: tuple[Path, ...]) -> list[Path]:
    """FILE arguments with each directory replaced by its *.json files, in name order; a
    directory holding none is refused by name (an import of nothing is a mistake)."""
    out: list[Path] = []
    for path in given:
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if not p.is_dir())
            if not found:
                raise InvalidOrg(f"{path}: a directory with no *.json snapshot in it")
            out.extend(found)
        else:
            out.append(path)
    return out


def _say_imported(stored: StoredOrg, file: Path, store: OrgStore) -> None:
    if stored.unchanged:
        click.echo(
            f"org `{stored.id}` version {stored.version} in {store.where} is {file} already: "
            "nothing changed"
        )
        return
    if stored.unsigned_over_signed:
        click.echo(
            f"authz: warning: org `{stored.id}` version {stored.version} is not signed, the "
            "version before was: servers run with --verify-key will not serve the org until "
            "it is imported with --signing-key",
            err=True,
        )
    signed = ", signed" if stored.signed else ""
    click.echo(
        f"imported org `{stored.id}` version {stored.version} ({stored.users} users, "
        f"{stored.records} records{signed}) into {store.where}"
    )


def _served_catalogue(policies: PolicyRef, store: OrgStore, file: str) -> Catalogue | None:
    """What an import is checked against: what is served from this store, so a server never
    meets an org that does not load under its policy set. None when that is the store's
    active version and it does not load: the org is then checked for what needs no policy
    set and stored all the same, saying so, since refusing it would keep a revoked user
    allowed. A set named by --policies that does not load is refused."""
    try:
        return resolve_catalogue(policies, store)
    except Unavailable:
        raise
    except AuthzError as exc:
        if policies.kind is not Source.ACTIVE:
            raise
        click.echo(
            f"authz: warning: the store's active policy version does not load ({exc}): {file} "
            "is checked as JSON and as an org's shape only, not against a policy set, and "
            "stored; `authz store check` says what is wrong with the version",
            err=True,
        )
        return None


@org.command(name="apply")
@click.argument("file", type=click.Path(path_type=Path))
@store_option
@format_option()
@served_policies_option
@signing_key_option("the snapshot the change makes, and the change")
def apply_(
    file: Path,
    store_path: StoreLocation | None,
    output_format: str,
    policies: PolicyRef,
    signing_key: Path | None,
) -> None:
    """Apply the change set in FILE to the org it names, as the org's next version.

    A change set lists operations on one org: a user, record, profile or role set (merged into
    the one the org holds, or added) or removed, settings set; docs/operations.md shows the
    format. It is checked against the stored org and the set served from the store, and stored
    with the snapshot it makes, in one transaction: a sidecar serving the version before
    applies the change alone, without loading the org again (a revocation in a big org is
    served in milliseconds, not the seconds a whole import takes). A change set that does not
    apply is refused naming each problem (exit 2), one whose base_version the org is no longer
    at is refused too (exit 1); nothing is written then. A change set that changes nothing
    makes no version (exit 0)."""
    try:
        signer = signer_from(signing_key)
        text = read_file(file, "change set", InvalidOrg)
        store = OrgStore(store_path)
        catalogue = resolve_catalogue(policies, store)
        done = store.apply_change_set(text, catalogue, where=str(file), actor=_who(), signer=signer)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps({**asdict(done), "store": str(store.where)}, indent=2))
        return
    if done.unchanged:
        click.echo(
            f"org `{done.id}` version {done.version} in {store.where} is as {file} makes it "
            "already: nothing changed"
        )
        return
    signed = ", signed" if done.signed else ""
    click.echo(
        f"applied {done.changes} change{'s' if done.changes != 1 else ''} to org `{done.id}`: "
        f"version {done.base_version} -> {done.version} ({done.users} users, {done.records} "
        f"records{signed}) in {store.where}"
    )


@org.command()
@click.argument("org_id")
@store_option
def export(org_id: str, store_path: StoreLocation | None) -> None:
    """Print the org's snapshot exactly as it was imported."""
    try:
        click.echo(OrgStore(store_path).export(org_id), nl=False)
    except AuthzError as exc:
        raise CommandFailed(exc) from None


@org.command(name="list")
@store_option
@format_option()
def list_(store_path: StoreLocation | None, output_format: str) -> None:
    """The orgs in the store, with version and size."""
    try:
        store = OrgStore(store_path)
        rows = [store.describe(i) for i in store.ids()]
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        keep = ("id", "version", "users", "records", "imported_at", "sha256")
        click.echo(json.dumps([{k: asdict(r)[k] for k in keep} for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"{store.where}: no orgs")
    for r in rows:
        click.echo(
            f"{r.id}\tversion {r.version}\t{r.users} users\t{r.records} records\t"
            f"imported {r.imported_at}\tsha256 {r.sha256[:12]}"
        )
