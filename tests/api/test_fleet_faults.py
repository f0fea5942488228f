"""A fleet whose change feed breaks: three `authz serve` processes on a PostgreSQL
of the test's own (tests/pg_faults.py), one fault at a time, then a revocation.

A sidecar that LISTENs and is never told of a change serves its old snapshot until its next
poll. On 3b794ea a stopped listening backend left one sidecar allowing a revoked user for up to
the 30 s safety poll while /readyz said `"changes": "pushed"`. Each test here puts one fault on
the feed, writes a revocation, and requires every sidecar to serve it within 3 s of the import
returning: one listening backend stopped (SIGSTOP), the server stopped and started, and one
listening connection cut without a word. The latencies are printed and recorded.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.api.conftest import evaluation
from tests.api.processes import serving
from tests.api.test_fleet import TOKEN, call, decides
from tests.cli.runner import run
from tests.conftest import DEMO
from tests.pg_faults import Blackhole, Cluster, private_cluster
from tests.postgres import in_schema

pytestmark = pytest.mark.slow

REVOKED_WITHIN = 3.0  # the promise to every sidecar, whatever one fault did to its feed
BOUND = 60.0  # how long the test waits for anything before calling it lost (longer than the
# old 30 s safety poll, so that a failure says how late the revocation was, not only that it was)
ASHA = {**evaluation("asha", "create", "estimate"), "context": {"org": "demo"}}


@dataclass
class Fleet:
    url: str  # the store, reached directly (the CLI)
    ports: list[int]
    proxy: Blackhole  # between the sidecars and the server
    cluster: Cluster
    tmp: Path

    def readyz(self, port: int) -> dict[str, Any]:
        status, body = call(port, "/readyz")
        assert status == 200, body
        found: dict[str, Any] = body
        return found

    def store(self, port: int) -> dict[str, Any]:
        found: dict[str, Any] = self.readyz(port)["store"]
        return found

    def revoke(self) -> dict[int, float]:
        """Take Asha's Books enrolment away; seconds from the import returning until each
        sidecar denies her."""
        revoked = json.loads(DEMO.read_text())
        asha = next(u for u in revoked["users"] if u["id"] == "asha")
        asha["enrolments"] = [e for e in asha["enrolments"] if e["product"] != "books"]
        path = self.tmp / "revoked.json"
        path.write_text(json.dumps(revoked))
        code, _, err = run("org", "import", str(path), "--store", self.url)
        assert code == 0, err
        return until(self.ports, lambda p: not decides(p, ASHA), "the revocation")


def until(ports: list[int], check: Callable[[int], bool], what: str) -> dict[int, float]:
    """Seconds until `check` first held on each sidecar; fails after BOUND."""
    started = time.monotonic()
    seen: dict[int, float] = {}
    while len(seen) < len(ports):
        for p in ports:
            if p not in seen and check(p):
                seen[p] = time.monotonic() - started
        if len(seen) < len(ports):
            waiting = sorted(set(ports) - set(seen))
            assert time.monotonic() - started < BOUND, f"{what}: not seen on ports {waiting}"
            time.sleep(0.02)
    return seen


def within(latencies: dict[int, float], record_property: Any, fault: str) -> None:
    slowest = max(latencies.values())
    record_property(f"revocation_reached_all_s_{fault}", round(slowest, 3))
    print(f"\n{fault}: revocation served by all 3 in " + ", ".join(
        f"{s:.2f}" for s in sorted(latencies.values())) + " s")  # fmt: skip
    assert slowest <= REVOKED_WITHIN, (
        f"{fault}: a sidecar served the revocation after {slowest:.2f} s "
        f"(all: {sorted(round(s, 2) for s in latencies.values())}), over {REVOKED_WITHIN} s"
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with private_cluster() as c:
        yield c


@pytest.fixture
def fleet(cluster: Cluster, tmp_path: Path) -> Iterator[Fleet]:
    schema = f"authz_fleet_{uuid.uuid4().hex[:12]}"
    with cluster.connect() as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = in_schema(cluster.url, schema)
    proxy = Blackhole(("127.0.0.1", cluster.port))
    through = in_schema(f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres", schema)
    assert run("org", "import", str(DEMO), "--store", url)[0] == 0
    assert run("policy", "publish", "--store", url, "--as", "fleet-test")[0] == 0
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    args = ("--store", through, "--token-file", str(token), "--store-timeout", "2")
    try:
        with serving(*args) as a, serving(*args) as b, serving(*args) as c:
            fleet = Fleet(url, [a, b, c], proxy, cluster, tmp_path)
            until(fleet.ports, lambda p: fleet.store(p)["changes"] == "pushed", "listening")
            assert len(cluster.listeners()) == 3
            assert all(decides(p, ASHA) for p in fleet.ports)
            yield fleet
    finally:
        proxy.close()


def test_a_revocation_reaches_every_sidecar_within_3_s_with_one_listener_hung(
    fleet: Fleet, record_property: Any
) -> None:
    pid, _ = fleet.cluster.listeners()[0]
    os.kill(pid, signal.SIGSTOP)
    try:
        within(fleet.revoke(), record_property, "listener hung")
        # the sidecar whose listener hung found it silent, and said why
        lost = until(
            fleet.ports[:1],
            lambda _: any(fleet.store(p).get("listener_lost", 0) >= 1 for p in fleet.ports),
            "a sidecar reporting its listener lost",
        )
        assert lost
        said = [fleet.store(p) for p in fleet.ports]
        assert any("heartbeat" in str(s.get("listener_last_lost")) for s in said), said
        # listening again, on a new connection, and proven: pushed again everywhere
        until(fleet.ports, lambda p: fleet.store(p)["changes"] == "pushed", "pushed again")
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_revocation_reaches_every_sidecar_within_3_s_after_a_postgres_restart(
    fleet: Fleet, record_property: Any
) -> None:
    fleet.cluster.stop()
    try:
        until(fleet.ports, lambda p: fleet.readyz(p)["status"] == "degraded", "degraded")
        during = [fleet.store(p) for p in fleet.ports]
    finally:
        fleet.cluster.start()
    latencies = fleet.revoke()
    until(fleet.ports, lambda p: fleet.store(p)["changes"] == "pushed", "pushed again")
    within(latencies, record_property, "postgres restarted")
    # while the server was down, /readyz said changes were polled, and why
    assert all(s["changes"] == "polling" and s["polling_because"] for s in during), during


def test_a_revocation_reaches_every_sidecar_within_3_s_with_one_listener_cut_silently(
    fleet: Fleet, record_property: Any
) -> None:
    _, client_port = fleet.cluster.listeners()[0]
    fleet.proxy.drop(client_port)
    latencies = fleet.revoke()
    until(fleet.ports, lambda p: fleet.store(p)["changes"] == "pushed", "pushed again")
    within(latencies, record_property, "listener cut")
    assert any(fleet.store(p).get("listener_lost", 0) >= 1 for p in fleet.ports)


def test_a_revocation_reaches_every_sidecar_within_3_s_with_one_listener_terminated(
    fleet: Fleet, record_property: Any
) -> None:
    pid, _ = fleet.cluster.listeners()[0]
    with fleet.cluster.connect() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    latencies = fleet.revoke()
    until(fleet.ports, lambda p: fleet.store(p)["changes"] == "pushed", "pushed again")
    within(latencies, record_property, "listener terminated")
