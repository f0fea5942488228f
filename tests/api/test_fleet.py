"""A fleet: three `authz serve` processes on one PostgreSQL store.

A policy version activated, or an org imported, through one CLI call reaches all three (pushed:
they LISTEN, and poll only every 30 s while they do, so a change seen within seconds came by
notice); a revocation too. The database going away mid-load (through a proxy the test cuts:
every connection dropped, new ones refused, as when PostgreSQL stops, without stopping the
server the other tests use) leaves them answering from what they hold, never a 500, /readyz
degraded; back, they catch up without a restart. Two sidecars asked to apply one plan at once:
one 200, one 409. The times a change took to reach all three are measured and reported.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.api.conftest import evaluation
from tests.api.processes import serving
from tests.api.test_migration_api import usage_rows
from tests.api.test_reload import NO_BOOKS_INTEGRATION_CREATE
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES
from tests.migration_support import LEGACY
from tests.postgres import fresh_schema
from tests.tcp_proxy import Proxy

pytestmark = pytest.mark.slow

TOKEN = "fleet-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SIDECARS = 3
SETTLE = 20.0  # how long a change may take before the test calls it lost (not a goal: see below)


def call(port: int, path: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json", **AUTH},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def decides(port: int, ask: dict[str, Any]) -> bool:
    status, body = call(port, "/access/v1/evaluation", ask)
    assert status == 200, body
    return bool(body["decision"])


def until(ports: list[int], check: Callable[[int], bool], what: str) -> float:
    """Seconds until `check` holds on every sidecar; fails after SETTLE."""
    started = time.monotonic()
    waiting = set(ports)
    while waiting:
        waiting = {p for p in waiting if not check(p)}
        if waiting and time.monotonic() - started > SETTLE:
            raise AssertionError(f"{what}: not seen by sidecars on ports {sorted(waiting)}")
        if waiting:
            time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[str, Proxy, list[int]]]:
    """The store's URL (for the CLI), the proxy the sidecars reach it through, their ports."""
    with fresh_schema() as url:
        parts = urlsplit(url)
        proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
        through = url.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
        for snapshot in (DEMO, LEGACY):
            assert run("org", "import", str(snapshot), "--store", url)[0] == 0
        assert run("policy", "publish", "--store", url, "--as", "fleet-test")[0] == 0
        token = tmp_path / "token"
        token.write_text(TOKEN)
        token.chmod(0o600)
        args = ("--store", through, "--token-file", str(token), "--store-timeout", "2")
        try:
            with serving(*args) as a, serving(*args) as b, serving(*args) as c:
                ports = [a, b, c]
                until(ports, lambda p: call(p, "/readyz")[1]["store"]["changes"] == "pushed",
                      "listening")  # fmt: skip
                yield url, proxy, ports
        finally:
            proxy.close()


def test_a_fleet_on_one_postgres(
    fleet: tuple[str, Proxy, list[int]], tmp_path: Path, record_property: Any
) -> None:
    url, proxy, ports = fleet
    create = {**evaluation("eli", "create", "estimate"), "context": {"org": "demo"}}
    asha = {**evaluation("asha", "create", "estimate"), "context": {"org": "demo"}}
    assert all(decides(p, create) for p in ports)

    # a revocation: Asha's Books enrolment taken away by an org import
    revoked = json.loads(DEMO.read_text())
    asha_user = next(u for u in revoked["users"] if u["id"] == "asha")
    asha_user["enrolments"] = [e for e in asha_user["enrolments"] if e["product"] != "books"]
    revoked_file = tmp_path / "revoked.json"
    revoked_file.write_text(json.dumps(revoked))
    assert all(decides(p, asha) for p in ports)
    assert run("org", "import", str(revoked_file), "--store", url)[0] == 0
    revoke_s = until(ports, lambda p: not decides(p, asha), "the revocation")
    _outage_and_catch_up(url, proxy, ports, asha)

    # the same by change sets (`authz org apply`): each sidecar applies the change alone
    enrol = {"op": "user", "id": "asha", "set": {"enrolments": [{"product": "books"}]}}
    for ops, allowed in (([enrol], True), ([{**enrol, "set": {"enrolments": []}}], False)):
        change_file = tmp_path / "change.json"
        change_file.write_text(json.dumps({"org": "demo", "changes": ops}))
        code, _, err = run("org", "apply", str(change_file), "--store", url)
        assert code == 0, err
        until(ports, lambda p, want=allowed: decides(p, asha) is want, f"the change to {allowed}")

    # a policy version published and activated by one CLI call
    edited = tmp_path / "policies"
    shutil.copytree(POLICIES, edited, ignore=shutil.ignore_patterns("history", "examples"))
    (edited / "no-integration-creates.cedar").write_text(NO_BOOKS_INTEGRATION_CREATE)
    code, _, err = run("policy", "publish", str(edited), "--store", url, "--as", "fleet-test")
    assert code == 0, err
    policy_s = until(ports, lambda p: not decides(p, create), "the new policy version")

    record_property("policy_reached_all_s", round(policy_s, 3))
    record_property("revocation_reached_all_s", round(revoke_s, 3))
    print(f"\nfleet: policy version on all 3 in {policy_s:.3f} s, revocation {revoke_s:.3f} s")


def _outage_and_catch_up(url: str, proxy: Proxy, ports: list[int], asha: dict[str, Any]) -> None:
    answers: list[int] = []
    stop = threading.Event()

    def load() -> None:  # evaluations all along, on every sidecar
        while not stop.is_set():
            for p in ports:
                answers.append(call(p, "/access/v1/evaluation", asha)[0])

    loader = threading.Thread(target=load)
    loader.start()
    try:
        proxy.cut()
        until(ports, lambda p: call(p, "/readyz")[1]["status"] == "degraded", "degraded")
        ready = call(ports[0], "/readyz")
        assert ready[0] == 200 and ready[1]["store"]["reachable"] is False
        # the listener went with the rest: polled meanwhile, and /readyz says so and why
        until(ports, lambda p: call(p, "/readyz")[1]["store"]["changes"] == "polling", "polling")
        assert call(ports[0], "/readyz")[1]["store"]["polling_because"]
        assert ready[1]["store"]["degraded_since"] and ready[1]["orgs"]["demo"] == 2
        scrape = urllib.request.Request(f"http://127.0.0.1:{ports[0]}/metrics", headers=AUTH)
        with urllib.request.urlopen(scrape, timeout=10) as resp:
            metrics = resp.read().decode()
        assert "authz_store_reachable 0.0" in metrics and "authz_store_outages_total 1.0" in metrics
        assert all(not decides(p, asha) for p in ports)  # still the revocation held
        # meanwhile Asha's enrolment is given back in the store (the CLI reaches it; the
        # sidecars do not)
        assert run("org", "import", str(DEMO), "--store", url)[0] == 0
        time.sleep(1.5)  # several polls fail meanwhile
        assert all(not decides(p, asha) for p in ports)
        proxy.restore()
        until(ports, lambda p: decides(p, asha), "catching up after the outage")
        until(ports, lambda p: call(p, "/readyz")[1]["status"] == "ready", "ready again")
        until(ports, lambda p: call(p, "/readyz")[1]["store"]["changes"] == "pushed", "pushed")
    finally:
        stop.set()
        loader.join()
    assert answers and set(answers) == {200}, sorted(set(answers))


def test_two_sidecars_applying_one_plan_at_once_one_applies_the_other_is_409(
    fleet: tuple[str, Proxy, list[int]],
) -> None:
    url, _, ports = fleet
    asked = {"org": "legacy", "usage": usage_rows(), "as_of": "2026-11-25"}
    status, plan = call(ports[0], "/migration/v1/plan", asked)
    assert status == 200, plan
    schema = psycopg.connect(url, autocommit=True)
    name = schema.execute("SELECT current_schema()").fetchone()
    assert name is not None
    # hold the store's writer lock until both applies wait for it: then both have found the
    # plan not applied yet, and only the lock decides between them
    schema.execute("SELECT pg_advisory_lock(hashtext(%s))", (name[0],))
    results: list[tuple[int, Any]] = []

    def apply(port: int, who: str) -> None:
        results.append(call(port, "/migration/v1/apply", {"plan": plan, "as": who}, timeout=30))

    threads = [
        threading.Thread(target=apply, args=(p, w))
        for p, w in zip(ports[:2], ("olga", "olga"), strict=True)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + SETTLE
    while schema.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone() != (2,):
        assert time.monotonic() < deadline, "the applies never waited for the lock"
        time.sleep(0.02)
    schema.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name[0],))
    for t in threads:
        t.join()
    schema.close()
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 409], results
    applied = next(b for s, b in results if s == 200)
    assert applied["applied"] is True and applied["version"] == 2
    stale = next(b for s, b in results if s == 409)
    assert "plan is stale" in json.dumps(stale)
    # and every sidecar serves the migrated org
    until(ports, lambda p: call(p, "/readyz")[1]["orgs"]["legacy"] == 2, "the applied plan")
