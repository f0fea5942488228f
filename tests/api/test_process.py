"""The real server process: kill -9 loses no line of an answered decision; bad binds refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.conftest import evaluation
from tests.cli.runner import run
from tests.conftest import DEMO, ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, body: dict[str, object], rid: str) -> dict[str, object]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/access/v1/evaluation",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-request-id": rid},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["x-request-id"] == rid
        return dict(json.loads(resp.read()))


def test_kill_9_mid_load_loses_no_answered_decision(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    log = tmp_path / "decisions.jsonl"
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "suite_authz.cli.main",
            "serve",
            "--store",
            str(store),
            "--port",
            str(port),
            "--decision-log",
            str(log),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        answered = []
        cases = [
            ("asha", "create", "estimate"),
            ("ben", "view", "invoice"),
            ("chen", "view", "item:item-1"),
        ]
        for n in range(300):
            subject, action, resource = cases[n % len(cases)]
            _post(port, evaluation(subject, action, resource), f"kill-{n}")
            answered.append(f"kill-{n}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    logged = {json.loads(line)["request_id"] for line in log.read_text().splitlines()}
    assert set(answered) <= logged


def test_serve_refuses_a_remote_bind_without_a_token(tmp_path: Path) -> None:
    code, _, err = run("serve", "--host", "0.0.0.0", "--store", str(tmp_path / "s.sqlite3"))
    assert code == 2 and "binds to loopback only" in err


def test_serve_refuses_an_empty_store(tmp_path: Path) -> None:
    code, _, err = run("serve", "--store", str(tmp_path / "s.sqlite3"), "--port", "1")
    assert code == 2 and "the store holds no org" in err


def test_serve_on_a_taken_port_says_so_before_announcing_anything(tmp_path: Path) -> None:
    assert run("org", "import", str(DEMO), "--store", str(tmp_path / "s.sqlite3"))[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = run("serve", "--store", str(tmp_path / "s.sqlite3"), "--port", port)
    assert code == 2
    assert f"--port {port}: the port is taken on 127.0.0.1" in err
    assert "serving" not in err
