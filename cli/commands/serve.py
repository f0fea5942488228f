"""authz serve: the AuthZEN sidecar over the org store."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
from pathlib import Path

import click
from starlette.types import ASGIApp

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.options import (
    decision_log_option,
    served_policies_option,
    store_option,
    stored_org_option,
)
from suite_authz.engine.core import BACKENDS, AuthzError, read_file
from suite_authz.engine.sources import PolicyRef, Source
from suite_authz.engine.store import StoreLocation
from suite_authz.server.config import (
    DEFAULT_CLASS_CACHE,
    DEFAULT_DECISION_CACHE,
    MAX_SEARCHES,
    ServeConfig,
    check_remote_token,
    loopback,
)
from suite_authz.server.connections import GuardedHttpProtocol, raise_descriptor_limit
from suite_authz.server.main import SHIPPED_SET, build, shared_metrics_dir
from suite_authz.server.state import State

# a bearer token is a line; anything longer is not one
MAX_TOKEN_FILE = 4096


def read_token(path: Path, remote: bool) -> str:
    """The bearer token, refusing a file any other user may read (0600 only: the docs refuse
    "readable by other users", and a group is other users) and, beyond loopback, a short one
    (the rule is the server's own, server/config.py, checked again when the app is built)."""
    try:
        token = read_file(path, "the token file", AuthzError, MAX_TOKEN_FILE, private=True).strip()
        if not token:
            raise AuthzError(f"{path}: the token file is empty")
        if remote:
            check_remote_token(token, str(path))
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    return token


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=8181,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The TCP port to listen on, 0 to 65535; 0 means any free port, the kernel's choice.",
)
@store_option
@stored_org_option(
    "serving",
    multiple=True,
    help="Serve this org, by its id in the store (repeatable; default: every org in the "
    "store). With several, a request names its org in context.org.",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Serve only the orgs that fall to the I-th of N shards (rendezvous hashing of the org "
    "id; `authz fleet route ORG --shards N` names an org's). Orgs imported later that fall to it "
    "are served as they come; a request for another shard's org is refused naming its shard.",
)
@click.option(
    "--fleet",
    "fleet",
    multiple=True,
    metavar="URL",
    help="With --shard I/N: the base URLs of the fleet's N sidecars, in shard order (as "
    "`authz fleet route --sidecar` takes them). The metadata of another shard's org then "
    "names the sidecar that serves it.",
)
@served_policies_option
@click.option("--backend", type=click.Choice(BACKENDS), default="cedar", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Require `Authorization: Bearer <token>` with the token in this file.",
)
@decision_log_option("Append one JSON line per decision here.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--decision-cache",
    default=DEFAULT_DECISION_CACHE,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="Decisions kept per org to answer repeated requests (0: none). Never stale: a reload "
    "starts new caches.",
)
@click.option(
    "--class-cache",
    default=DEFAULT_CLASS_CACHE,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="Request classes per org whose Cedar answer is kept (0: none). A class is what the "
    "policies read of a request; /readyz says whether the policies allow it.",
)
@click.option(
    "--allow-remote", is_flag=True, help="Bind beyond loopback without a token (not recommended)."
)
@click.option(
    "--idle-timeout",
    default=10,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds a request gets to arrive whole (headers and body) from its first byte, and "
    "a connection to stay idle between requests, before it is closed.",
)
@click.option(
    "--public-url",
    default=None,
    help="The PDP identifier (an https URL) the metadata names; each org's is URL/ORG. "
    "Required beyond loopback (default there: the bound address).",
)
@click.option(
    "--store-pool",
    default="1:4",
    show_default=True,
    metavar="MIN:MAX",
    help="PostgreSQL store: connections kept open, and at most (per worker). Reloads and the "
    "migration routes use them; decisions never wait on the store.",
)
@click.option(
    "--store-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1, 600),
    help="PostgreSQL store: seconds a statement, or the wait for a connection, may take "
    "before the store counts as unreachable (the sidecar then serves what it holds).",
)
@click.option(
    "--max-searches",
    default=MAX_SEARCHES,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Search pages computed at once per worker; a search beyond them waits up to 2 s for "
    "its turn, then is a 503 with Retry-After. Each one running slows every evaluation.",
)
@click.option(
    "--verify-key",
    "verify_keys",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Serve only policy versions and org snapshots from the store signed by this Ed25519 "
    "public key (PEM; repeat while rotating keys); others are refused and named on /readyz.",
)
def serve(
    host: str,
    port: int,
    store_path: StoreLocation | None,
    org_ids: tuple[str, ...],
    shard: str | None,
    fleet: tuple[str, ...],
    policies: PolicyRef,
    backend: str,
    token_file: Path | None,
    decision_log: Path | None,
    workers: int,
    decision_cache: int,
    class_cache: int,
    allow_remote: bool,
    idle_timeout: int,
    public_url: str | None,
    store_pool: str,
    store_timeout: float,
    max_searches: int,
    verify_keys: tuple[Path, ...],
) -> None:
    """Serve decisions over the OpenID AuthZEN 1.0 API, reloading policies and orgs on change.

    On a PostgreSQL store (--store postgresql://...) the sidecar hears of changes as they
    commit (LISTEN), falls back to polling each second when it cannot, and keeps answering
    from what it holds while the store is unreachable (/readyz says degraded)."""
    token = read_token(token_file, remote=not loopback(host)) if token_file else None
    pool_min, pool_max = _pool(store_pool)
    config = ServeConfig(
        host=host,
        port=port,
        token_source=str(token_file),
        allow_remote=allow_remote,
        store=str(store_path) if store_path else None,
        policies=_config_policies(policies),
        orgs=org_ids,
        shard=shard,
        fleet=fleet,
        backend=backend,
        token=token,
        decision_log=str(decision_log) if decision_log else None,
        decision_cache=decision_cache,
        class_cache=class_cache,
        freeze_heap=True,
        public_url=public_url,
        store_pool_min=pool_min,
        store_pool_max=pool_max,
        store_timeout=store_timeout,
        max_searches=max_searches,
        verify_keys=tuple(str(p) for p in verify_keys),
    )
    with contextlib.ExitStack() as stack:
        if workers > 1:  # the workers' metrics, added up at each scrape; on before any is made
            stack.enter_context(shared_metrics_dir())
        try:
            config.validate()  # the bind rules, in their words, before the port is probed
            _check_bind(host, port)
            # validate and load everything before binding; with workers, the one load they share
            app, state = build(config, watch=workers == 1)
        except AuthzError as exc:
            raise CommandFailed(exc) from None
        anywhere = " (port 0: any free port, the kernel's choice)" if port == 0 else ""
        _announce(state, f"{backend}) on http://{host}:{port}{anywhere}")
        raise_descriptor_limit()
        _run(app, state, config, host, port, workers, idle_timeout)


def _run(
    app: ASGIApp, state: State, config: ServeConfig, host: str, port: int, workers: int, idle: int
) -> None:
    import uvicorn

    guarded = {"http": GuardedHttpProtocol, "timeout_keep_alive": idle}
    if workers == 1:
        if decision_log_file := state.decision_log:
            signal.signal(signal.SIGHUP, lambda *_: decision_log_file.reopen())
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **guarded)
        return
    from prometheus_client import multiprocess

    from suite_authz.server.prefork import listening_socket, serve_forked

    def on_fork() -> None:
        state.store.reopen()
        # a worker forked to replace one that died starts from the load the parent made at
        # start: it catches up with every change since before it answers anything
        state.reload_if_changed()
        if config.reload_interval > 0:
            state.watch(config.reload_interval)
        if decision_log_file := state.decision_log:
            signal.signal(signal.SIGHUP, lambda *_: decision_log_file.reopen())

    def run_worker(sock: socket.socket) -> None:
        settings = uvicorn.Config(app, log_level="warning", access_log=False, **guarded)
        try:
            uvicorn.Server(settings).run(sockets=[sock])
        finally:
            state.stop()
            multiprocess.mark_process_dead(os.getpid())  # its live gauges go with it

    sock = listening_socket(host, port)
    multiprocess.mark_process_dead(os.getpid())  # the parent serves nothing: no live gauges
    code = serve_forked(state, sock, workers, run_worker, on_fork)
    if code:
        raise SystemExit(code)


def _pool(value: str) -> tuple[int, int]:
    low, _, high = value.partition(":")
    try:
        pool = int(low), int(high or low)
    except ValueError:
        pool = (0, 0)
    if not 1 <= pool[0] <= pool[1] <= 100:
        raise CommandFailed(
            f"--store-pool {value}: give MIN:MAX connections, 1 <= MIN <= MAX <= 100"
        )
    return pool


def _config_policies(policies: PolicyRef) -> str | None:
    if policies.kind is Source.SHIPPED:
        return SHIPPED_SET
    if policies.kind is Source.DIRECTORY:
        return str(Path(policies.value).resolve())  # never read as SHIPPED_SET
    return None


def _announce(state: State, where: str) -> None:
    """What is about to be served: orgs and policy set on stdout (what a user reads to know
    which answer they will get), the rest on stderr."""
    served = state.served
    assert served is not None
    if state.policies_dir is not None:
        click.echo(
            f"warning: watching {state.policies_dir} is for development; production serves "
            "the store's published set (`authz policy publish`)",
            err=True,
        )
    click.echo(
        f"serving orgs {', '.join(sorted(served.engines))} with policy set "
        f"{served.policies.version} ({served.source}, {where}"
    )
    how = "changes pushed as they commit" if state.store.driver == "postgres" else "polled"
    click.echo(f"store: {state.store.where} ({how})", err=True)
    for status in sorted({s.reason for s in state.class_caches().values()}):
        click.echo(f"class cache: {'on, ' if status.startswith('keyed') else ''}{status}", err=True)


def _check_bind(host: str, port: int) -> None:
    """Say a taken port plainly, before loading anything or announcing a server that would
    never answer. Bound as uvicorn binds (SO_REUSEADDR), then let go for it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandFailed(f"--host {host}: cannot resolve it: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandFailed(
                    f"--port {port}: the port is taken on {host} (another `authz serve`? "
                    "pick another with --port)"
                ) from None
            raise CommandFailed(
                f"--host {host} --port {port}: cannot bind: {exc.strerror}"
            ) from None
