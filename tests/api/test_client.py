"""suite_authz.client against a real `authz serve` on loopback: answers, batches, searches that
follow tokens, asyncio, and failing closed (a dead server, a 5xx, a body that is not a
decision, a server killed mid-call) without ever raising unless asked to."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from suite_authz.client import (
    AsyncAuthzClient,
    AuthzClient,
    AuthzRequestError,
    AuthzUnavailable,
    Decision,
    evaluation,
)
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.processes import serving
from tests.api.test_process import _free_port
from tests.conftest import DEMO, POLICIES, ROOT

LEGACY = POLICIES / "examples" / "legacy-org.json"


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    store = tmp_path_factory.mktemp("client") / "s.sqlite3"
    catalogue = load_policies().catalogue
    for org in (DEMO, LEGACY):
        OrgStore(store).import_snapshot(org.read_text(), catalogue)
    with serving("--store", str(store)) as p:
        yield p


def test_check_answers_as_the_sidecar_does(port: int) -> None:
    with AuthzClient(f"http://127.0.0.1:{port}/demo") as authz:
        view = authz.check("asha", "view", "estimate:est-1", request_id="crm-42")
        assert view and view.acting_as == {"user": "asha", "product": "books"}
        assert view.request_id == "crm-42" and view.error is None
        assert authz.check("asha", "create", "estimate")  # a new record
        delete = authz.check("asha", "delete", "estimate:est-1")
        assert not delete and delete.error is None and delete.reasons
        item = authz.check("chen", "view", ("item", "item-1"))
        assert item.redact_fields == ["cost_price"]


def test_check_many_keeps_order_and_semantics(port: int) -> None:
    items = [evaluation("asha", a, "estimate:est-1") for a in ("view", "delete", "edit")]
    with AuthzClient(f"http://127.0.0.1:{port}/demo") as authz:
        assert [bool(d) for d in authz.check_many(items)] == [True, False, True]
        short = authz.check_many(items, semantic="deny_on_first_deny")
        assert [bool(d) for d in short] == [True, False]
        bad = authz.check_many([evaluation("asha", "veiw", "estimate:est-1")])
        assert not bad[0] and "did you mean `view`" in (bad[0].error or "")


def test_searches_follow_tokens_to_the_last_page(port: int) -> None:
    with AuthzClient(f"http://127.0.0.1:{port}/demo") as authz:
        one_by_one = list(authz.search_resources("asha", "view", "estimate", limit=1))
        at_once = list(authz.search_resources("asha", "view", "estimate", limit=100))
        assert len(one_by_one) >= 2 and one_by_one == at_once
        users = {s["id"] for s in authz.search_subjects("view", "estimate:est-1", limit=2)}
        assert "asha" in users and "ivy" not in users  # ivy is the legacy org's
        actions = {a["name"] for a in authz.search_actions("asha", "estimate:est-1")}
        assert {"view", "edit"} <= actions and "delete" not in actions


def test_the_asyncio_client_answers_the_same(port: int) -> None:
    async def ask() -> tuple[Decision, list[dict[str, object]]]:
        async with AsyncAuthzClient(f"http://127.0.0.1:{port}/legacy") as authz:
            decision = await authz.check("ivy", "view", "estimate")
            found = [r async for r in authz.search_resources("olga", "view", "estimate", limit=1)]
            return decision, found

    decision, found = asyncio.run(ask())
    assert decision and len(found) >= 1


def test_a_server_that_is_not_there_is_a_deny_with_the_error() -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    with AuthzClient(dead, timeout=0.5, retries=1, backoff=0.01) as authz:
        d = authz.check("asha", "view", "estimate:est-1")
        assert not d and d.error and "unavailable" in d.error
        assert list(authz.search_resources("asha", "view", "estimate")) == []
        assert [bool(x) for x in authz.check_many([evaluation("a", "view", "estimate")])] == [False]
    strict = AuthzClient(dead, timeout=0.5, retries=0, raise_errors=True)
    with strict as authz, pytest.raises(AuthzUnavailable):
        authz.check("asha", "view", "estimate:est-1")


@pytest.mark.parametrize(
    ("status", "body", "calls"),
    [
        (503, b'{"status": 503, "message": "not ready"}', 3),  # retried, then closed
        (500, b'{"status": 500, "message": "boom"}', 1),
        (200, b"not json", 1),
        (200, b'{"decision": "true"}', 1),  # a string is not a decision
        (200, b'{"verdict": true}', 1),
    ],
)
def test_a_failing_or_unreadable_answer_is_a_deny(status: int, body: bytes, calls: int) -> None:
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    client = AuthzClient(
        "http://pdp", transport=httpx.MockTransport(reply), retries=2, backoff=0.001
    )
    with client as authz:
        d = authz.check("asha", "view", "estimate:est-1")
    assert not d and d.error and len(seen) == calls
    assert seen[0].headers["content-type"] == "application/json"
    assert seen[0].headers["x-request-id"]


def test_a_refused_request_is_a_deny_or_raises_when_asked_never_retried(port: int) -> None:
    with AuthzClient(f"http://127.0.0.1:{port}/nope") as authz:
        d = authz.check("asha", "view", "estimate:est-1")
        assert not d and "HTTP 404" in (d.error or "")
    strict = AuthzClient(f"http://127.0.0.1:{port}/nope", raise_errors=True)
    with strict as authz, pytest.raises(AuthzRequestError) as info:
        authz.check("asha", "view", "estimate:est-1")
    assert info.value.status == 404


def test_a_server_killed_mid_call_never_turns_into_an_allow(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    server_port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite_authz.cli.main", "serve", "--store", str(store),
         "--port", str(server_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results: list[Decision] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask() -> None:
        with AuthzClient(f"http://127.0.0.1:{server_port}", timeout=1, retries=1) as authz:
            while not stop.is_set():
                try:  # asha may delete nothing: any allow of it would be a mistake
                    results.append(authz.check("asha", "delete", "estimate:est-1"))
                    results.append(authz.check("asha", "view", "estimate:est-1"))
                except BaseException as exc:
                    errors.append(exc)
                    return

    try:
        with AuthzClient(f"http://127.0.0.1:{server_port}", timeout=1) as authz:
            deadline = time.monotonic() + 30
            while authz.check("asha", "view", "estimate:est-1").error:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        worker = threading.Thread(target=ask)
        worker.start()
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        worker.join(timeout=30)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert not errors
    deletes = results[0::2]
    assert deletes and not any(deletes)
    assert any(r.error for r in results) and any(bool(r) for r in results[1::2])


def test_the_client_needs_neither_the_engine_nor_the_server() -> None:
    code = (
        "import sys, suite_authz.client; "
        "bad = [m for m in ('suite_authz.engine', 'suite_authz.server', 'suite_authz.cli', "
        "'cedarpy', 'oso', 'starlette') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
