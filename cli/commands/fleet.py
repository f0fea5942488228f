"""authz fleet route: which shard of a fleet of sidecars (`authz serve --shard I/N`) serves an
org, its sidecar's URL, and the routing table a load balancer reads (docs/operations.md)."""

from __future__ import annotations

import json

import click

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.options import format_option, store_option
from suite_authz.engine.core import AuthzError
from suite_authz.engine.serving import MAX_SHARDS, shard_of
from suite_authz.engine.store import OrgStore, StoreLocation


@click.group()
def fleet() -> None:
    """Orgs sharded over a fleet of sidecars."""


@fleet.command()
@click.argument("org_ids", nargs=-1)
@click.option(
    "--shards",
    required=True,
    type=click.IntRange(1, MAX_SHARDS),
    help="How many shards the fleet has (its sidecars' --shard I/N).",
)
@click.option(
    "--sidecar",
    "sidecars",
    multiple=True,
    metavar="URL",
    help="The base URL of each shard's sidecar, in shard order (all N, or none): each org's is "
    "printed with it.",
)
@click.option(
    "--all-orgs",
    "every",
    is_flag=True,
    help="Every org in the store (--store) instead of ORG_IDS: the whole routing table.",
)
@store_option
@format_option("nginx")
def route(
    org_ids: tuple[str, ...],
    shards: int,
    sidecars: tuple[str, ...],
    every: bool,
    store_path: StoreLocation | None,
    output_format: str,
) -> None:
    """The shard (and, with --sidecar, the URL) that serves each ORG_ID.

    Rendezvous hashing of the org id: the same answer on every machine, from the id and N
    alone; adding a shard moves only the orgs the new one takes (about 1/(N+1) of them).
    --format nginx prints a `map` block from the org in the request's path to its shard, for
    the load balancer configuration in docs/operations.md."""
    if sidecars and len(sidecars) != shards:
        raise CommandFailed(f"--sidecar: give one URL per shard, {shards}, not {len(sidecars)}")
    if every == bool(org_ids):
        raise CommandFailed("name the orgs (ORG_IDS) or ask for --all-orgs, one of the two")
    try:
        ids = OrgStore(store_path).ids() if every else list(org_ids)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    rows = []
    for org_id in ids:
        shard = shard_of(org_id, shards)
        row: dict[str, object] = {"org": org_id, "shard": shard, "shards": shards}
        if sidecars:
            row["sidecar"] = f"{sidecars[shard - 1].rstrip('/')}/{org_id}"
        rows.append(row)
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
    elif output_format == "nginx":
        click.echo(_nginx_map(rows))
    else:
        for row in rows:
            url = f"\t{row['sidecar']}" if sidecars else ""
            click.echo(f"{row['org']}\t{row['shard']}/{shards}{url}")


def _nginx_map(rows: list[dict[str, object]]) -> str:
    """`map $authz_org $authz_shard`: the org to its shard's number; an org not in the table
    (imported since) goes to shard 1, which refuses it naming the shard that serves it. The
    ids are quoted as nginx reads strings (a quote or backslash escaped); an id holding a
    character nginx cannot take in a quoted string is refused by name."""
    lines = ["map $authz_org $authz_shard {", "    default 1;"]
    for row in rows:
        org = str(row["org"])
        if any(c in org for c in "\n\r\t;{}$") or not org.isprintable():
            raise CommandFailed(f"org `{org}`: an id nginx cannot route on as it is")
        quoted = org.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'    "{quoted}" {row["shard"]};')
    lines.append("}")
    return "\n".join(lines)
