"""No allow by mistake at the sidecar's edges (each test failed on 4b6dd84)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.state import State
from tests.api.conftest import evaluation
from tests.conftest import DEMO


def _migration(value: object) -> dict[str, object]:
    return evaluation("olivia", "run_migration", "org:demo", enrolments=value)


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_a_cached_allow_never_answers_an_equal_value_of_another_type(
    served: tuple[TestClient, State, Path], value: object
) -> None:
    client = served[0]
    first = client.post("/access/v1/evaluation", json=_migration(1))
    assert first.status_code == 200 and first.json()["decision"] is True
    second = client.post("/access/v1/evaluation", json=_migration(value))
    assert second.status_code == 400, second.text
    again = client.post("/access/v1/evaluations", json={"evaluations": [_migration(value)]})
    assert again.json()["evaluations"][0]["decision"] is False


def test_a_cached_refusal_never_answers_the_valid_integer(
    served: tuple[TestClient, State, Path],
) -> None:
    client = served[0]
    assert client.post("/access/v1/evaluation", json=_migration(True)).status_code == 400
    valid = client.post("/access/v1/evaluation", json=_migration(1))
    assert valid.status_code == 200 and valid.json()["decision"] is True


# -- searches are bounded and page without repeating work ------------------------------------


@pytest.mark.parametrize("limit", [0, -1, 1001, "5", True])
def test_page_limit_outside_1_to_1000_is_a_400(client: TestClient, limit: object) -> None:
    body = {**evaluation("asha", "view", "estimate"), "page": {"limit": limit}}
    r = client.post("/access/v1/search/resource", json=body)
    assert r.status_code == 400 and "page.limit" in r.json()["message"]


@pytest.mark.parametrize(
    "token",
    [
        "eyJvIjogOTk5OTk5OTksICJrIjogIngifQ==",  # an unsigned {"o": 99999999, "k": "x"}
        "not-a-token",
        "a.b",
        "x" * 600,
    ],
)
def test_a_forged_page_token_is_a_400(client: TestClient, token: str) -> None:
    body = {**evaluation("asha", "view", "estimate"), "page": {"token": token}}
    r = client.post("/access/v1/search/resource", json=body)
    assert r.status_code == 400 and "page.token" in r.json()["message"]


def test_an_edited_page_token_is_a_400(client: TestClient) -> None:
    body = {**evaluation("olivia", "view", "estimate"), "page": {"limit": 1}}
    token = client.post("/access/v1/search/resource", json=body).json()["page"]["next_token"]
    assert token
    payload, mac = token.split(".")
    forged = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}"
    r = client.post("/access/v1/search/resource", json={**body, "page": {"token": forged}})
    assert r.status_code == 400


def test_search_results_are_logged_and_counted_like_evaluations(
    served: tuple[TestClient, State, Path],
) -> None:
    """A search's answers are logged and counted as evaluations' are."""
    client, _, tmp = served
    body = {**evaluation("olivia", "view", "estimate"), "page": {"limit": 10}}
    r = client.post("/access/v1/search/resource", json=body, headers={"X-Request-ID": "s-1"})
    ids = [x["id"] for x in r.json()["results"]]
    assert ids == ["est-1", "est-2"]
    lines = [json.loads(x) for x in (tmp / "decisions.jsonl").read_text().splitlines()]
    logged = [x for x in lines if x["request_id"] == "s-1"]
    assert [x["request"]["resource"]["id"] for x in logged] == ids
    assert all(x["decision"] is True and x["rules"] for x in logged)
    text = client.get("/metrics").text
    assert 'authz_decisions_total{outcome="allow"} 2.0' in text
    assert 'authz_batch_decisions_sum{kind="search_resource"} 2.0' in text


def test_a_decision_log_that_cannot_be_written_answers_nothing_and_is_not_ready(
    served: tuple[TestClient, State, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Searches and evaluations alike; metrics count only answered decisions."""
    client, _, _ = served

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    ask = evaluation("asha", "create", "estimate")
    assert client.post("/access/v1/evaluation", json=ask).status_code == 503
    body = {**evaluation("olivia", "view", "estimate"), "page": {"limit": 10}}
    assert client.post("/access/v1/search/resource", json=body).status_code == 503
    assert client.get("/readyz").status_code == 503
    text = client.get("/metrics").text
    assert "authz_decision_log_failures_total 2.0" in text
    assert "authz_decision_seconds_count 0.0" in text and "authz_decisions_total{" not in text
    monkeypatch.undo()
    assert client.post("/access/v1/evaluation", json=ask).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_the_decision_log_reopens_when_rotated_away(served: tuple[TestClient, State, Path]) -> None:
    client, _, tmp = served
    log = tmp / "decisions.jsonl"
    ask = evaluation("asha", "create", "estimate")
    client.post("/access/v1/evaluation", json=ask)
    log.rename(tmp / "decisions.jsonl.1")  # logrotate's move
    time.sleep(1.1)  # the log looks for a move at most once a second
    client.post("/access/v1/evaluation", json=ask, headers={"X-Request-ID": "after"})
    assert json.loads(log.read_text().splitlines()[-1])["request_id"] == "after"


# -- every route stops reading at the limit ---------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/access/v1/search/resource", "/migration/v1/plan", "/access/v1/evaluation"]
)
def test_every_route_stops_reading_a_chunked_body_at_the_limit(tmp_path: Path, path: str) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), token="a-token-of-16-chars", reload_interval=0))
    received = 0
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal received
        received += 1  # 64 MiB offered, in 1 MiB chunks, with no Content-Length
        return {"type": "http.request", "body": b" " * (1 << 20), "more_body": received < 64}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "server": ("127.0.0.1", 8181), "client": ("127.0.0.1", 5000),
        "headers": [(b"authorization", b"Bearer a-token-of-16-chars"),
                    (b"content-type", b"application/json")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert received <= 2  # stopped at the first chunk past 1 MiB


# -- no leaks ---------------------------------------------------------------------------------


def test_errors_never_list_the_served_orgs_nor_the_store_path(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    r = client.post("/access/v1/evaluation", json=evaluation("asha", "view", "estimate", org="x"))
    assert r.status_code == 400 and "demo" not in r.text and str(tmp) not in r.text


def test_readyz_without_the_token_says_only_ready(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, _ = build(ServeConfig(store=str(store), token="a-token-of-16-chars", reload_interval=0))
    with TestClient(app) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        full = client.get("/readyz", headers={"Authorization": "Bearer a-token-of-16-chars"})
        assert full.json()["orgs"] == {"demo": 1}


def test_the_host_header_is_never_echoed_into_the_metadata(client: TestClient) -> None:
    r = client.get("/.well-known/authzen-configuration", headers={"Host": "evil.example"})
    assert "evil.example" not in r.text


def test_an_oversized_or_unprintable_request_id_is_replaced(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    ask = evaluation("asha", "create", "estimate")
    for given in ("x" * 5000, "bad\x01id"):
        r = client.post("/access/v1/evaluation", json=ask, headers={"X-Request-ID": given})
        assert r.headers["x-request-id"] != given and len(r.headers["x-request-id"]) == 32
    assert "xxxxxxxxxx" not in (tmp / "decisions.jsonl").read_text()


# -- a clear 400, never a 500 or a traceback ------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"subject": {"type": "user", "id": "ben"}, "subject": {"type": "user", "id": "olivia"},'
        b' "action": {"name": "view"}, "resource": {"type": "estimate", "id": "#new"}}',
        b'{"subject": {"type": "user", "id": "asha", "id": "olivia"},'
        b' "action": {"name": "view"}, "resource": {"type": "estimate", "id": "#new"}}',
        b'{"subject": {"type": "user", "id": "asha"}, "action": {"name": "view"},'
        b' "resource": {"type": "estimate", "properties": {"x": '
        + b"[" * 700
        + b"]" * 700
        + b"}}}",
        b'{"context": ' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"}",
    ],
)
def test_duplicate_keys_and_deep_nesting_are_a_400(client: TestClient, raw: bytes) -> None:
    for path in ("/access/v1/evaluation", "/access/v1/evaluations", "/access/v1/search/action"):
        r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert len(r.text) < 500


def test_starlette_s_own_errors_are_json_with_a_request_id(client: TestClient) -> None:
    for r in (client.get("/nowhere"), client.get("/access/v1/search/subject")):
        assert r.status_code in (404, 405)
        assert r.json()["status"] == r.status_code and r.headers["x-request-id"]
