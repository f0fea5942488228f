"""A PostgreSQL of the test's own, and faults to put on it that the shared server must never
see: a backend stopped with SIGSTOP, the server stopped and started again, one connection cut
without a word (its packets dropped, no FIN, no RST).

The cluster is made with initdb in a fresh directory under /tmp and started with pg_ctl on a
free port (as the `postgres` user when the tests run as root: PostgreSQL refuses to run as
root). Without PostgreSQL's binaries the tests that need one are skipped saying so, or fail
when $AUTHZ_TEST_REQUIRE_POSTGRES is set, as tests/postgres.py does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.postgres import REQUIRE_ENV
from tests.tcp_proxy import Proxy

LISTENING = "LISTEN authz_store"  # the statement a sidecar's listening connection ran last


def _bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running private cluster: its URL (trust auth, database `postgres`), and the server's
    lifecycle for the tests to break."""

    def __init__(self, bindir: Path, data: Path, port: int, user: str | None) -> None:
        self.bindir, self.data, self.port, self._user = bindir, data, port, user
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str) -> None:
        as_user = ["runuser", "-u", self._user, "--"] if self._user else []
        done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args[:2])} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        pg_ctl = str(self.bindir / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.data / "log"), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown, as a restart does: every session ended, new ones refused."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def listeners(self) -> list[tuple[int, int]]:
        """(backend pid, client port) of every connection whose last statement was a LISTEN on
        the store's channel: one per sidecar."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT pid, client_port FROM pg_stat_activity WHERE query = %s ORDER BY pid",
                (LISTENING,),
            ).fetchall()
        return [(int(str(pid)), int(str(port))) for pid, port in rows]


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    user: str | None = None
    why = None if bindir is not None else "no PostgreSQL binaries (initdb, pg_ctl) found"
    if bindir is not None and os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
            user = "postgres"
        except KeyError:
            why = "running as root with no `postgres` user to run a private PostgreSQL as"
    if why is not None or bindir is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{why}; {REQUIRE_ENV} is set, so this is a failure")
        pytest.skip(str(why))
    # under /tmp, not pytest's tmp_path: that is private to root, and the server runs as postgres
    top = Path(tempfile.mkdtemp(prefix="authz-pg-"))
    data = top / "data"
    data.mkdir()
    if user is not None:
        shutil.chown(top, user)
        shutil.chown(data, user)
    cluster = Cluster(bindir, data, _free_port(), user)
    try:
        cluster._run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                     "--no-sync", "-E", "UTF8")  # fmt: skip
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError, subprocess.SubprocessError):
            cluster._run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(top, ignore_errors=True)


class Blackhole(Proxy):
    """A TCP proxy whose connections can be cut one at a time without a word: once `drop`ped,
    what either side sends is read and thrown away, and nothing is closed, as when a network
    path loses every packet. Neither end notices by itself (the proxy still acknowledges at
    the TCP level, so keepalives pass too); only a check that expects an answer does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._dropped: set[int] = set()  # upstream local ports (the server's client_port)
        super().__init__(target)

    def drop(self, client_port: int) -> None:
        """Silence the connection the server sees coming from `client_port`."""
        with self._lock:
            self._dropped.add(client_port)

    def passes(self, upstream: int) -> bool:
        return upstream not in self._dropped
