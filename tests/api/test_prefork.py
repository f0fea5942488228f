"""`authz serve --workers N` loads once and forks: the workers are the server's own children,
share what it loaded, are replaced when one dies, all take a change, and all stop with it.
Waits are on what the server says (a new pid, an answer), never on a fixed sleep."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store import OrgStore
from suite_authz.server.prefork import QUICK_DEATHS, listening_socket, serve_forked
from tests.api.conftest import evaluation
from tests.api.processes import serving_process
from tests.conftest import DEMO

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def until(check: Callable[[], object], seconds: float = 60) -> object:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def workers_of(pid: int, count: int = 2, without: int = 0) -> set[int]:
    """The server's children once there are `count` of them, `without` not among them."""

    def found() -> set[int] | None:
        now = children(pid)
        return now if len(now) == count and without not in now else None

    return until(found)  # type: ignore[return-value]


def decide(port: int, *ask: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/access/v1/evaluation",
        data=json.dumps(evaluation(*ask)).encode(),
        headers={"content-type": "application/json", "connection": "close"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return bool(json.loads(response.read())["decision"])


def store_with_demo(tmp_path: Path) -> Path:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    return store


def test_workers_are_forked_children_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (port, proc):
        workers = workers_of(proc.pid)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = workers_of(proc.pid, without=victim)
        assert victim not in replaced
        for _ in range(10):  # fresh connections: the kernel spreads them over both workers
            assert decide(port, "asha", "create", "estimate")


def revoke_asha(store: Path) -> None:
    org = json.loads(DEMO.read_text())
    for user in org["users"]:
        if user["id"] == "asha":
            user["memberships"] = []
            user.pop("enrolments", None)
    OrgStore(store).import_snapshot(json.dumps(org), load_policies().catalogue)


def test_a_change_reaches_every_worker(tmp_path: Path) -> None:
    """Each worker watches the store itself: after a revocation no connection, whichever
    worker takes it, is answered from the old org."""
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (port, _):
        assert decide(port, "asha", "create", "estimate")
        revoke_asha(store)
        until(lambda: not decide(port, "asha", "create", "estimate"))
        assert not any(decide(port, "asha", "create", "estimate") for _ in range(30))


def test_a_worker_forked_after_a_revocation_answers_from_the_revoked_org(tmp_path: Path) -> None:
    """A replacement is forked from the parent, which loaded the org before the revocation: its
    very first answer must already be the revoked org's (not one watcher turn later). The other
    worker is stopped so that the replacement takes the first connection."""
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (port, proc):
        workers = workers_of(proc.pid)
        revoke_asha(store)
        until(lambda: not any(decide(port, "asha", "create", "estimate") for _ in range(10)))
        victim, survivor = sorted(workers)
        os.kill(survivor, signal.SIGSTOP)
        try:
            os.kill(victim, signal.SIGKILL)
            workers_of(proc.pid, without=victim)
            # queued in the backlog while the replacement starts: answered by it alone
            assert not decide(port, "asha", "create", "estimate")
        finally:
            os.kill(survivor, signal.SIGCONT)


def test_sigterm_stops_every_worker_and_the_server_exits_0(tmp_path: Path) -> None:
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (_, proc):
        workers = workers_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for pid in workers:  # reaped by the server: gone, not zombies
            assert not Path(f"/proc/{pid}").exists()


def _no_store_state() -> object:
    class Store:
        def close(self) -> None:
            pass

    class State:
        store = Store()

    return State()


def test_workers_that_die_as_they_start_stop_the_server_with_1() -> None:
    """Forking forever is no recovery: a worker that cannot start, three times running, ends
    the server (exit 1) instead of being replaced again."""
    sock = listening_socket("127.0.0.1", 0)

    def run_worker(_: socket.socket) -> None:
        raise RuntimeError("cannot start")

    pid = os.fork()
    if pid == 0:  # the supervisor under test, in a child so that it cannot touch pytest's state
        code = 98
        try:
            code = serve_forked(_no_store_state(), sock, 2, run_worker)  # type: ignore[arg-type]
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    sock.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1
    assert QUICK_DEATHS == 3


def test_the_parent_serves_nothing_itself(tmp_path: Path) -> None:
    """The port is the workers': with both stopped (SIGSTOP), nothing answers."""
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (port, proc):
        workers = workers_of(proc.pid)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        assert decide(port, "asha", "create", "estimate")


def test_the_server_s_own_process_shows_one_load(tmp_path: Path) -> None:
    """One load for all workers: the parent's announcement names the org once, and no worker
    loads it again (a worker's load would be a reload, counted in /metrics)."""
    store = store_with_demo(tmp_path)
    with serving_process("--store", str(store), "--workers", "2", ready=60) as (port, _):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        reloads = [line for line in text.splitlines() if line.startswith("authz_reloads_total ")]
        assert reloads and float(reloads[0].split()[1]) == 0.0, reloads
