"""authz policy publish | list | show | activate: policy sets as immutable stored versions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.exits import Trouble
from cli.identity import who as _who
from cli.options import format_option, resolve_policies, store_option
from engine import AuthzError, OrgStore, read_source, stored_source
from engine import activate_policy_version as activate
from engine import policy_versions as versions
from engine import publish_policies as publish
from engine import resolve_policy_version as resolve

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
def publish_(
    directory: Path | None,
    store_path: Path | None,
    actor: str | None,
    no_activate: bool,
    shipped: bool,
    fmt: str,
) -> None:
    """Validate DIRECTORY (default: ./policies, else the shipped set, said on stderr) whole,
    store it as a version, activate it.

    Refused, with nothing stored, when a file does not parse or validate against the schema,
    when lint finds a fault, or when an org in the store would not load under the set.
    """
    chosen = resolve_policies(directory, shipped)
    try:
        source = read_source(chosen)
        store = OrgStore(store_path)
        version = publish(store, source, _who(actor), activate=not no_activate)
    except AuthzError as exc:
        raise Trouble(exc) from None
    state = "stored" if no_activate else "active"
    if fmt == "json":
        out = {"version": version, "from": str(source.directory), "state": state}
        click.echo(json.dumps({**out, "store": str(store.path)}, indent=2))
        return
    click.echo(f"published policy set {version} from {source.directory} ({state}) in {store.path}")


@policy.command(name="list")
@store_option
@format_option()
def list_(store_path: Path | None, fmt: str) -> None:
    """Stored versions, newest first; the served one marked."""
    try:
        rows = versions(OrgStore(store_path))
    except AuthzError as exc:
        raise Trouble(exc) from None
    if fmt == "json":
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
def show(version: str, store_path: Path | None, name: str | None, fmt: str) -> None:
    """The files of a stored version, or one file's text."""
    try:
        store = OrgStore(store_path)
        source = stored_source(store, resolve(store, version))
    except AuthzError as exc:
        raise Trouble(exc) from None
    files = {
        "schema.cedarschema": source.schema,
        "modules.json": source.catalogue,
        **source.cedar,
        **{f"polar/{k}": v for k, v in source.polar.items()},
    }
    if name is not None:
        if name not in files:
            raise Trouble(f"--file `{name}`: not in version {source.digest()}")
        if fmt == "json":
            click.echo(json.dumps({"version": source.digest(), "file": name, "text": files[name]}))
        else:
            click.echo(files[name], nl=False)
        return
    if fmt == "json":
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
def activate_(version: str, store_path: Path | None, actor: str | None, fmt: str) -> None:
    """Serve a stored VERSION from now on: a rollback names an older one."""
    try:
        full = activate(OrgStore(store_path), version, _who(actor))
    except AuthzError as exc:
        raise Trouble(exc) from None
    if fmt == "json":
        click.echo(json.dumps({"version": full, "state": "active"}))
        return
    click.echo(f"activated policy set {full}: servers over this store swap on their next poll")
