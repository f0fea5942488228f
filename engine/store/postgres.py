"""The store on PostgreSQL: what a fleet of sidecars shares.

Reads and writes take a connection from a pool (psycopg 3). A write transaction first takes a
transaction-scoped advisory lock keyed on the store's schema: the same one-writer-at-a-time
rule as SQLite's BEGIN IMMEDIATE, across every process and machine on the database, so two
concurrent imports of one org get distinct versions and two applies of one plan cannot both
apply. A change is announced with NOTIFY inside the transaction, so listeners hear of it only
once it has committed, and never of one that rolled back.

A listening connection that stays open can still stop delivering (its backend hung, a network
path that drops every packet without a reset): nothing fails, notices just stop. So the
listener also LISTENs on a channel of its own, and `heartbeat` sends a notice there through
the pool: PostgreSQL delivers notices in commit order across channels, so a heartbeat heard
back proves every change committed before it was sent was heard too. Deciding when a
heartbeat is late is the caller's (server/change_feed.py). The listening connection has TCP
keepalives and a statement timeout of its own as well, for the faults the kernel can see.

Every failure to reach the database (refused, dropped, a statement timed out, no connection
free in time) is a StoreUnreachable naming the store, never a psycopg exception: callers fail
closed on it and a server keeps what it has loaded.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from suite_authz.engine.store.db import (
    Cursor,
    PoolSettings,
    StoreError,
    StoreUnreachable,
    Tx,
    statements,
)

CHANNEL = "authz_store"
# the pool logs each failed connection attempt; a StoreUnreachable (and the server's one line
# per outage) says it once
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
# libpq settings for every connection (the listening one and the pool's), unless the URL sets
# them: a peer gone without a FIN or RST is found by the kernel within about 11 s (idle 5 s,
# then 3 probes 2 s apart), and a statement the server never acknowledges fails after 10 s
# instead of waiting out TCP's retransmissions (minutes) with the reload watcher stuck on it
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


# what a server answers that every retry would get again: the pool would only wait out its
# timeout and then hide it behind "pool initialization incomplete", so these fail at once
_DEFINITE = re.compile(
    r'FATAL:\s+((?:database|role) "[^"\n]*" does not exist'
    r"|password authentication failed[^\n]*|no pg_hba\.conf entry[^\n]*)"
)


def _refusal(url: str, timeout: float) -> float:
    """One connection before the pool's: a server that answers and refuses for good (a
    missing database or role, a wrong password) is a StoreError in the server's own words
    at once. Anything else (not answering, starting up) is left to the pool to wait for, in
    what is left of `timeout`, which is returned."""
    started = time.monotonic()
    try:
        psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout))).close()
    except psycopg.Error as exc:
        definite = _DEFINITE.search(str(exc))
        if definite is not None:
            raise StoreError(f"{redacted(url)}: the server refused: {definite.group(1)}") from None
    return timeout - (time.monotonic() - started)


def redacted(url: str) -> str:
    """The URL without its password, for messages and /readyz."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _pg(sql: str) -> str:
    """Our SQL is written with `?` placeholders (and holds no `%` or `?` in a literal)."""
    return sql.replace("?", "%s")


class _PgTx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self._conn.execute(_pg(sql), tuple(params))


class PostgresDatabase:
    driver = "postgres"

    def __init__(self, url: str, settings: PoolSettings) -> None:
        self.url = url
        self.where = redacted(url)
        self.settings = settings
        self.timeout = max(settings.connect_timeout, settings.statement_timeout)
        # the listening connection, in a box the finalizer can see without holding self
        self._box: list[psycopg.Connection[Any]] = []
        self._listen_lock = threading.Lock()
        # this process's own heartbeat channel: a random name, never one from outside
        self.beat_channel = f"authz_beat_{uuid.uuid4().hex[:16]}"
        timeout_ms = max(1, int(settings.statement_timeout * 1000))
        self._timeout_ms = str(timeout_ms)
        self._keepalives = _keepalives(url)

        def configure(conn: psycopg.Connection[Any]) -> None:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(timeout_ms),))

        self._pool = ConnectionPool(
            url,
            min_size=settings.min_size,
            max_size=max(settings.min_size, settings.max_size),
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(settings.connect_timeout)),
                **self._keepalives,
            },
            configure=configure,
            check=ConnectionPool.check_connection,  # a restarted server leaves dead ones behind
            timeout=settings.connect_timeout,
            # give up a failing connection attempt soon: the next read asks afresh, so a store
            # that comes back is found at the next poll, not after a backoff grown meanwhile
            reconnect_timeout=settings.connect_timeout,
            open=False,
            name="authz-store",
        )
        self._closer = weakref.finalize(self, _close_all, self._box, self._pool)
        try:
            left = _refusal(url, settings.connect_timeout)
            self._pool.open(wait=True, timeout=max(0.1, left))
            self.schema = str(self.read("SELECT current_schema()")[0][0])
        except (PoolTimeout, psycopg.Error) as exc:
            self._closer()
            raise StoreUnreachable(f"{self.where}: cannot open the org store: {exc}") from None
        except StoreError:
            self._closer()
            raise

    def read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return list(conn.execute(_pg(sql), tuple(params)).fetchall())
        except UNREACHABLE as exc:
            raise StoreUnreachable(f"{self.where}: cannot reach the store: {exc}") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot read the store: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                # one writer at a time per store, as SQLite's BEGIN IMMEDIATE
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
                yield _PgTx(conn)
        except UNREACHABLE as exc:
            raise StoreUnreachable(f"{self.where}: cannot reach the store: {exc}") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self.where}: cannot write to the store: {exc}") from None

    def notify(self, tx: Tx, change: dict[str, object]) -> None:
        payload = json.dumps({**change, "schema": self.schema})
        tx.execute("SELECT pg_notify(?, ?)", (CHANNEL, payload))

    def tables(self, tx: Tx | None = None) -> set[str]:
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        rows = tx.execute(sql).fetchall() if tx is not None else self.read(sql)
        return {str(r[0]) for r in rows}

    def script(self, tx: Tx, sql: str) -> None:
        for statement in statements(sql):
            tx.execute(statement)

    # -- change notices -----------------------------------------------------------------------

    def changes(self, timeout: float) -> list[dict[str, Any]]:
        """The changes to this store announced within `timeout` seconds (an empty list when
        none were), and this process's heartbeats heard back (`{"heartbeat": n}`). Opens the
        listening connection on first use, or after `drop_listener`, and then answers
        `[{"reconnected": True}]` at once; StoreUnreachable when it cannot open it, or when it
        drops (the caller polls meanwhile and calls again to reconnect)."""
        with self._listen_lock:
            conn = self._box[0] if self._box else None
            try:
                if conn is None or conn.closed:
                    self._box[:] = [self._listen()]
                    return [{"reconnected": True}]  # what changed while not listening is unknown
                # back at the first notice (others wait for the next call), not at the timeout
                heard = [
                    (n.channel, n.payload) for n in conn.notifies(timeout=timeout, stop_after=1)
                ]
            except psycopg.Error as exc:
                self._drop_listener()
                raise StoreUnreachable(f"{self.where}: not listening for changes: {exc}") from None
        out: list[dict[str, Any]] = []
        for channel, payload in heard:
            if channel == self.beat_channel:
                if payload.isdigit():
                    out.append({"heartbeat": int(payload)})
                continue
            try:
                change = json.loads(payload)
            except ValueError:
                continue
            if isinstance(change, dict) and change.get("schema") == self.schema:
                out.append(change)
        return out

    def _listen(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            make_conninfo(self.url, **self._keepalives),
            autocommit=True,
            connect_timeout=max(1, int(self.settings.connect_timeout)),
        )
        try:
            # a statement on a backend that is stuck gives up rather than waiting for ever;
            # LISTEN stays the last statement, which is how an operator finds the listener in
            # pg_stat_activity
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (self._timeout_ms,))
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.beat_channel)))
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error:
            conn.close()
            raise
        return conn

    def heartbeat(self, n: int) -> None:
        """Send heartbeat `n` to this process's own listener, through the pool (another
        backend): `changes` hands it back once the listening connection has delivered it."""
        self.read("SELECT pg_notify(?, ?)", (self.beat_channel, str(n)))

    def drop_listener(self) -> None:
        """Close the listening connection (one found silent): the next `changes` opens a new
        one, on a new backend."""
        with self._listen_lock:
            self._drop_listener()

    def _drop_listener(self) -> None:
        _close_all(self._box)

    def close(self) -> None:
        with self._listen_lock:
            self._closer()


def _keepalives(url: str) -> dict[str, str]:
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        return {}  # a malformed URL: opening the pool says what is wrong with it
    return {k: v for k, v in KEEPALIVES.items() if k not in given}


def _close_all(box: list[psycopg.Connection[Any]], pool: ConnectionPool | None = None) -> None:
    """Close the listening connection (and the pool): on close(), or when a store that was
    never closed is collected, so that no connection is left open behind it."""
    conns, box[:] = list(box), []
    for conn in conns:
        with suppress(psycopg.Error):
            conn.close()
    if pool is not None:
        pool.close()
