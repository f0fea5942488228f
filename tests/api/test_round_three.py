"""At the sidecar: page tokens bound to their org and search kind, one percent-decoding of a
path's org, per-org metadata that says nothing of which orgs exist, empty searches logged and
counted and credentials masked in the log, searches one at a time per worker, a restored
policy file leaving /readyz's refusals, and the bearer scheme read case-insensitively. Each
test failed on 3b794ea."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from suite_authz.cli.main import cli
from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.serving import search_page
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.conftest import DEMO

TOKEN = "s3cret-token-of-32-characters-xx"
WAIT = 60.0  # a safety net for a broken build: every wait below ends on an event


# -- a page token pages through one org's search of one kind ----------------------------------


def _first_page(client: TestClient, path: str, body: dict[str, Any]) -> str:
    r = client.post(path, json={**body, "page": {"limit": 1}})
    assert r.status_code == 200, r.text
    token: str = r.json()["page"]["next_token"]
    assert token
    return token


def test_a_page_token_from_one_org_is_refused_on_another_org_s_path(
    two_orgs: TestClient,
) -> None:
    body = evaluation("olivia", "view", "estimate:est-1")
    token = _first_page(two_orgs, "/demo/access/v1/search/subject", body)
    again = {**body, "page": {"limit": 1, "token": token}}
    r = two_orgs.post("/legacy/access/v1/search/subject", json=again)
    assert r.status_code == 400 and "page.token" in r.json()["message"], r.text
    assert two_orgs.post("/demo/access/v1/search/subject", json=again).status_code == 200


def test_a_page_token_from_one_search_kind_is_refused_on_another(client: TestClient) -> None:
    body = evaluation("olivia", "view", "estimate:est-1")  # valid for both kinds
    token = _first_page(client, "/access/v1/search/subject", body)
    again = {**body, "page": {"limit": 1, "token": token}}
    r = client.post("/access/v1/search/resource", json=again)
    assert r.status_code == 400 and "page.token" in r.json()["message"], r.text


def test_a_page_token_from_the_root_path_is_refused_on_an_org_path(client: TestClient) -> None:
    body = evaluation("olivia", "view", "estimate:est-1")
    token = _first_page(client, "/access/v1/search/subject", body)
    again = {**body, "page": {"limit": 1, "token": token}}
    r = client.post("/demo/access/v1/search/subject", json=again)
    assert r.status_code == 400 and "page.token" in r.json()["message"], r.text


# -- one percent-decoding -----------------------------------------------------------------


def _asgi_post(app: Any, raw_path: bytes, body: dict[str, Any]) -> int:
    """The status of a POST as uvicorn hands it over: `path` decoded once from `raw_path`
    (starlette's TestClient decodes twice, the very bug asked about)."""
    sent: list[dict[str, Any]] = []
    data = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": unquote(raw_path.decode()),
        "raw_path": raw_path, "query_string": b"", "root_path": "", "scheme": "http",
        "http_version": "1.1", "server": ("127.0.0.1", 8181), "client": ("127.0.0.1", 5000),
        "headers": [(b"content-type", b"application/json")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize("route", ["evaluation", "evaluations", "search/subject"])
def test_an_org_encoded_twice_in_the_path_is_not_the_org(tmp_path: Path, route: str) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0))
    ask = evaluation("asha", "create", "estimate")
    # %25 64 is `%64` once decoded: an org id of its own, not `demo`
    assert _asgi_post(app, f"/%2564emo/access/v1/{route}".encode(), ask) == 404
    assert _asgi_post(app, f"/%64emo/access/v1/{route}".encode(), ask) == 200


# -- per-org metadata: nothing about which orgs exist before the token ----------------------


def test_per_org_metadata_without_the_token_is_alike_for_every_org_id(
    guarded: TestClient,
) -> None:
    known = guarded.get("/.well-known/authzen-configuration/demo")
    unknown = guarded.get("/.well-known/authzen-configuration/nosuch")
    assert known.status_code == unknown.status_code == 200
    assert known.json() == {k: v.replace("/nosuch", "/demo") for k, v in unknown.json().items()}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get("/.well-known/authzen-configuration/demo", headers=auth).status_code == 200
    r = guarded.get("/.well-known/authzen-configuration/nosuch", headers=auth)
    assert r.status_code == 404


# -- the bearer scheme is case-insensitive (RFC 7235 2.1) --------------------------------------


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "beArer"])
def test_the_bearer_scheme_is_read_in_any_case(guarded: TestClient, scheme: str) -> None:
    auth = {"Authorization": f"{scheme} {TOKEN}"}
    ask = evaluation("asha", "create", "estimate")
    assert guarded.post("/access/v1/evaluation", json=ask, headers=auth).status_code == 200
    assert guarded.get("/metrics", headers=auth).status_code == 200
    assert "orgs" in guarded.get("/readyz", headers=auth).json()


@pytest.mark.parametrize("given", [f"Basic {TOKEN}", f"Bearer{TOKEN}", f"bearer {TOKEN}x", ""])
def test_another_scheme_or_token_is_still_a_401(guarded: TestClient, given: str) -> None:
    ask = evaluation("asha", "create", "estimate")
    r = guarded.post("/access/v1/evaluation", json=ask, headers={"Authorization": given})
    assert r.status_code == 401


# -- every search answered is logged and counted; credentials never logged in clear -----------


def _log(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (tmp / "decisions.jsonl").read_text().splitlines()]


def test_a_search_with_no_result_is_logged_and_counted(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    body = evaluation("nobody", "view", "estimate:est-1")  # no such user: nothing found
    r = client.post("/access/v1/search/action", json=body, headers={"X-Request-ID": "empty-1"})
    assert r.status_code == 200 and r.json()["results"] == []
    logged = [x for x in _log(tmp) if x["request_id"] == "empty-1"]
    assert len(logged) == 1
    assert logged[0]["search"] == {"kind": "action", "results": 0}
    assert logged[0]["request"]["subject"]["id"] == "nobody"
    text = client.get("/metrics").text
    assert 'authz_search_pages_total{found="none",kind="action"} 1.0' in text
    assert 'authz_batch_seconds_count{kind="search_action"} 1.0' in text


def test_a_search_with_results_is_counted_as_a_page_too(
    served: tuple[TestClient, State, Path],
) -> None:
    client = served[0]
    body = {**evaluation("olivia", "view", "estimate"), "page": {"limit": 10}}
    assert client.post("/access/v1/search/resource", json=body).json()["results"]
    text = client.get("/metrics").text
    assert 'authz_search_pages_total{found="some",kind="resource"} 1.0' in text


def test_an_authorization_in_a_body_is_never_logged_in_clear(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    ask = evaluation(
        "asha",
        "create",
        "estimate",
        channel="crm",
        Authorization="Bearer abc.def-cred-1",
        cookie="sid=cred-2",
        note="bearer cred-3-xyz",
        jwt="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjcmVkLTQifQ.c2lnbmF0dXJl",
    )
    r = client.post("/access/v1/evaluation", json=ask, headers={"X-Request-ID": "cred"})
    assert r.status_code == 200, r.text
    text = (tmp / "decisions.jsonl").read_text()
    for secret in ("abc.def-cred-1", "cred-2", "cred-3", "eyJzdWIiOiJjcmVkLTQifQ"):
        assert secret not in text
    context = next(x for x in _log(tmp) if x["request_id"] == "cred")["request"]["context"]
    assert context["Authorization"].startswith("sha256:")
    assert context["channel"] == "crm"


# -- searches: one at a time per worker, the rest queued briefly or a 503 ----------------------


class Held:
    """A server whose first search holds its page until `release` is set. `most`: the most
    searches ever computing at once; `arrived`: a later search reached the gate's queue (or,
    on a build without the gate, the page itself)."""

    def __init__(self, client: TestClient, gate: Any) -> None:
        self.client, self.gate = client, gate
        self.started, self.release, self.arrived = (threading.Event() for _ in range(3))
        self.running, self.most = 0, [0]
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def page(self, *args: Any) -> Any:
        with self.lock:
            first = not self.started.is_set()
            self.started.set()
            self.running += 1
            self.most.append(self.running)
        if not first:
            self.arrived.set()
        try:
            if first:
                assert self.release.wait(WAIT)
            return search_page(*args)
        finally:
            with self.lock:
                self.running -= 1

    def search(self, out: list[Any]) -> None:
        body = {**evaluation("olivia", "view", "estimate"), "page": {"limit": 10}}
        out.append(self.client.post("/access/v1/search/resource", json=body))

    def search_aside(self, out: list[Any]) -> threading.Thread:
        thread = threading.Thread(target=self.search, args=(out,))
        self.threads.append(thread)
        thread.start()
        return thread

    def finish(self) -> None:
        self.release.set()
        for thread in self.threads:
            thread.join(WAIT)


@pytest.fixture
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0))
    with TestClient(app) as client:
        # getattr: on a build without the gate (3b794ea) the tests fail, not error
        held = Held(client, getattr(app, "searches", None))
        monkeypatch.setattr("suite_authz.server.search.search_page", held.page)
        try:
            yield held
        finally:  # every search answered before the client closes, whatever the test saw
            held.finish()


def test_a_search_beyond_the_limit_with_no_queue_is_a_503_with_retry_after(held: Held) -> None:
    if held.gate is not None:
        held.gate.queue_seconds = 0.0
    first: list[Any] = []
    held.search_aside(first)
    assert held.started.wait(WAIT)
    second: list[Any] = []
    held.search(second)
    assert second[0].status_code == 503 and second[0].headers["retry-after"]
    assert "search" in second[0].json()["message"]
    ask = evaluation("asha", "create", "estimate")
    assert held.client.post("/access/v1/evaluation", json=ask).status_code == 200  # not held
    held.finish()
    assert first[0].status_code == 200 and max(held.most) == 1


def test_a_search_beyond_the_limit_waits_its_turn(
    held: Held, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = held.gate
    if gate is not None:
        gate.queue_seconds = WAIT
        take = gate.take

        async def noted() -> None:
            if gate.busy():
                held.arrived.set()
            await take()

        monkeypatch.setattr(gate, "take", noted)
    results: list[Any] = []
    held.search_aside(results)
    assert held.started.wait(WAIT)
    held.search_aside(results)
    assert held.arrived.wait(WAIT)  # the second is here while the first computes
    held.finish()
    assert [r.status_code for r in results] == [200, 200]
    assert max(held.most) == 1  # never two at once


# -- /readyz: a restored policy file is no longer refused ------------------------------------


def test_readyz_drops_a_policy_refusal_once_the_file_is_restored(
    served: tuple[TestClient, State, Path],
) -> None:
    client, state, tmp = served
    target = tmp / "policies" / "integration_users.cedar"
    good = target.read_text()
    target.write_text(good + "\npermit (principal, action, resource) when { oops };\n")
    assert state.reload_if_changed() is False
    assert "policy" in client.get("/readyz").json()["refused"]
    target.write_text(good)
    state.reload_if_changed()
    ready = client.get("/readyz").json()
    assert ready["refused"] == {} and ready["last_reload_error"] is None
    target.write_text(good + "\npermit (principal, action, resource) when { oops };\n")
    assert state.reload_if_changed() is False  # the same bad text again: shown again
    assert "policy" in client.get("/readyz").json()["refused"]


def test_max_searches_is_configured_per_worker(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0, max_searches=3))
    assert app.searches.limit == 3  # type: ignore[attr-defined]
    r = CliRunner().invoke(cli, ["serve", "--store", str(store), "--max-searches", "0"])
    assert r.exit_code == 2 and "--max-searches" in r.output
