"""authz policy publish | list | show | activate: policy sets as immutable stored versions;
authz policy path: where the shipped set and its examples are."""

from __future__ import annotations

import json
from pathlib import Path

import click

from suite_authz.cli.commands.keys import signer_from, signing_key_option
from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.identity import who as _who
from suite_authz.cli.options import format_option, review_ref, store_option
from suite_authz.engine.core import AuthzError, default_policies_dir, read_source
from suite_authz.engine.store import (
    OrgStore,
    PolicyVersion,
    StoreLocation,
    policy_signature,
    stored_source,
)
from suite_authz.engine.store import activate_policy_version as activate
from suite_authz.engine.store import policy_versions as versions
from suite_authz.engine.store import publish_policies as publish
from suite_authz.engine.store import resolve_policy_version as resolve

actor_option = click.option(
    "--as",
    "actor",
    default=None,
    help="Who publishes or activates, for the record (default: the login name).",
)


@click.group()
def policy() -> None:
    """Published policy sets: what `authz serve` serves, versioned, with rollback."""


@policy.command(name="publish")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
@store_option
@actor_option
@click.option("--no-activate", is_flag=True, help="Store the version without serving it yet.")
@click.option("--shipped", is_flag=True, help="Publish the policy set shipped with authz.")
@format_option()
@signing_key_option("the stored version")
def publish_(
    directory: Path | None,
    store_path: StoreLocation | None,
    actor: str | None,
    no_activate: bool,
    shipped: bool,
    output_format: str,
    signing_key: Path | None,
) -> None:
    """Validate DIRECTORY (default: ./policies; none there is an error) whole, store it as a
    version, activate it.

    Refused, with nothing stored, when a file does not parse or validate against the schema,
    when lint finds a fault, or when an org in the store would not load under the set. With
    --signing-key, a version already stored gets that key's signature.
    """
    try:
        signer = signer_from(signing_key)
        source = read_source(review_ref(directory, shipped).path())
        store = OrgStore(store_path)
        before = {v.version: v for v in versions(store)}
        version = publish(store, source, _who(actor), activate=not no_activate, signer=signer)
        now = next(v for v in versions(store) if v.version == version)
        if signer is None and now.active:
            _warn_if_unsigned_over_signed(store, before, version)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    state = "active" if now.active else "stored"
    earlier = before.get(version)
    if output_format == "json":
        out = {"version": version, "from": str(source.directory), "state": state}
        out["already_stored"] = earlier is not None
        out["published_at"], out["published_by"] = now.published_at, now.published_by
        click.echo(json.dumps({**out, "store": str(store.where)}, indent=2))
        return
    if earlier is not None:  # nothing new was stored: say whose it is, not ours
        click.echo(
            f"policy set {version} from {source.directory} is already stored (published "
            f"{earlier.published_at} by {earlier.published_by}); {state} in {store.where}"
        )
        return
    click.echo(f"published policy set {version} from {source.directory} ({state}) in {store.where}")


def _warn_if_unsigned_over_signed(
    store: OrgStore, before: dict[str, PolicyVersion], version: str
) -> None:
    served = next((v.version for v in before.values() if v.active), None)
    if served is None or served == version or policy_signature(store, version) is not None:
        return
    if policy_signature(store, served) is not None:
        click.echo(
            f"authz: warning: policy version {version} is not signed, the version served "
            f"before ({served}) was: servers run with --verify-key keep serving {served} "
            "until it is published with --signing-key",
            err=True,
        )


@policy.command(name="list")
@store_option
@format_option()
def list_(store_path: StoreLocation | None, output_format: str) -> None:
    """Stored versions, newest first; the served one marked."""
    try:
        rows = versions(OrgStore(store_path))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no published policy set: `authz policy publish`")
    for r in rows:
        mark = "*" if r.active else " "
        click.echo(
            f"{mark} {r.version}\tpublished {r.published_at} by {r.published_by}\t{r.files} files"
        )


@policy.command()
@click.argument("version")
@store_option
@click.option("--file", "name", default=None, help="Print this file of the set (fields.cedar).")
@format_option()
def show(
    version: str, store_path: StoreLocation | None, name: str | None, output_format: str
) -> None:
    """The files of a stored version, or one file's text."""
    try:
        store = OrgStore(store_path)
        source = stored_source(store, resolve(store, version))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    files = {
        "schema.cedarschema": source.schema,
        "modules.json": source.catalogue,
        **source.cedar,
        **{f"polar/{k}": v for k, v in source.polar.items()},
    }
    if name is not None:
        if name not in files:
            raise CommandFailed(f"--file `{name}`: not in version {source.digest()}")
        if output_format == "json":
            click.echo(json.dumps({"version": source.digest(), "file": name, "text": files[name]}))
        else:
            click.echo(files[name], nl=False)
        return
    if output_format == "json":
        click.echo(json.dumps({"version": source.digest(), "files": files}, indent=2))
        return
    click.echo(f"policy set {source.digest()}")
    for file, text in files.items():
        click.echo(f"  {file}\t{len(text.encode())} bytes")


@policy.command(name="activate")
@click.argument("version")
@store_option
@actor_option
@format_option()
def activate_(
    version: str, store_path: StoreLocation | None, actor: str | None, output_format: str
) -> None:
    """Serve a stored VERSION from now on: a rollback names an older one."""
    try:
        full = activate(OrgStore(store_path), version, _who(actor))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    if output_format == "json":
        click.echo(json.dumps({"version": full, "state": "active"}))
        return
    click.echo(f"activated policy set {full}: servers over this store swap on their next poll")


SHIPPED_PARTS = {
    "set": "the shipped policy set (schema, modules.json, the .cedar files, polar/)",
    "examples": "the demo and legacy orgs, the legacy usage file",
    "tests": "the shipped set's test suites (authz test)",
    "legacy": "the old model, which the migration's impact compares against",
    "history": "earlier versions of the set, for authz diff",
}


@policy.command(name="path")
@click.argument("part", required=False, default="set", type=click.Choice(list(SHIPPED_PARTS)))
@format_option()
def path_(part: str, output_format: str) -> None:
    """Where the shipped policies are: the set itself, or one PART of what ships beside it
    (examples, tests, legacy, history). For scripts: `cp -r "$(authz policy path)" policies`."""
    try:
        shipped = default_policies_dir()
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    where = {name: shipped if name == "set" else shipped / name for name in SHIPPED_PARTS}
    if output_format == "json":
        click.echo(json.dumps({name: str(p) for name, p in where.items()}, indent=2))
        return
    click.echo(str(where[part]))
