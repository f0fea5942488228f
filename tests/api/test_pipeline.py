"""The two request pipelines (the raw ASGI fast path and Starlette's routing) behind one
guard: the same failure gives the same bytes, whichever pipeline answers it, and every route
is declared once, its per-org form included."""

from __future__ import annotations

from collections import Counter

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

TOKEN = "s3cret-token-of-32-characters-xx"
GOOD = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
FAST = "/access/v1/evaluation"
ROUTED = "/access/v1/search/subject"  # served through Starlette's router
ASKED = {"subject": {"type": "user", "id": "asha"}, "action": {"name": "view"}}


def test_the_size_limit_is_the_one_tested_here() -> None:
    from suite_authz.server import bodies

    assert bodies.MAX_BODY == 1 << 20


def _answers(client: TestClient, method: str, paths: list[str], **kw: object) -> list[object]:
    out = []
    for path in paths:
        r = client.request(method, path, **kw)  # type: ignore[arg-type]
        out.append((r.status_code, r.content, r.headers.raw))
    return out


FAILURES = {
    "wrong token": ("POST", {"headers": {**GOOD, "Authorization": "Bearer nope"}, "json": ASKED}),
    "no token": ("POST", {"headers": {"Content-Type": "application/json"}, "json": ASKED}),
    "bad JSON": ("POST", {"headers": GOOD, "content": b'{"subject": '}),
    "not an object": ("POST", {"headers": GOOD, "content": b"[1, 2]"}),
    "not JSON's type": ("POST", {"headers": {**GOOD, "Content-Type": "text/plain"}, "json": {}}),
    "too large": ("POST", {"headers": GOOD, "content": b" " * ((1 << 20) + 1)}),
    "wrong method": ("GET", {"headers": GOOD}),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failure_is_the_same_bytes_on_both_pipelines(guarded: TestClient, failure: str) -> None:
    method, kw = FAILURES[failure]
    kw = {**kw, "headers": {**kw["headers"], "X-Request-ID": "same-id"}}  # type: ignore[dict-item]
    fast, routed, per_org = _answers(guarded, method, [FAST, ROUTED, "/demo" + ROUTED], **kw)
    assert fast[0] >= 400
    assert fast == routed == per_org, failure


def test_an_unknown_org_is_the_same_bytes_on_both_pipelines(guarded: TestClient) -> None:
    kw = {"headers": {**GOOD, "X-Request-ID": "same-id"}, "json": ASKED}
    fast, routed = _answers(guarded, "POST", ["/nope" + FAST, "/nope" + ROUTED], **kw)
    assert fast[0] == 404 and fast == routed


def test_a_wrong_token_says_how_to_authenticate(guarded: TestClient) -> None:
    r = guarded.post("/migration/v1/plan", json={}, headers={"Authorization": "Bearer x"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="authz"'
    assert r.json() == {
        "status": 401,
        "message": "a valid `Authorization: Bearer` token is required",
    }


def test_a_wrong_method_names_the_methods_the_route_takes(guarded: TestClient) -> None:
    r = guarded.post("/healthz")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert r.json()["message"] == "method: this route takes GET, HEAD"


def test_every_route_is_declared_once_and_per_org_forms_derive_from_it(
    guarded: TestClient,
) -> None:
    sidecar = guarded.app
    table = sidecar.routes  # type: ignore[attr-defined]
    declared = Counter(spec.path for spec in table)
    assert declared and max(declared.values()) == 1, declared
    fast = {spec.path for spec in table if spec.fast}
    assert fast == {"/access/v1/evaluation", "/access/v1/evaluations"}
    for spec in table:
        assert spec.methods and all(m.isupper() for m in spec.methods)
    routed = {r.path for r in sidecar.rest.routes if isinstance(r, Route)}  # type: ignore[attr-defined]
    for spec in table:
        assert (spec.path in routed) is not spec.fast, spec.path
        assert (f"/{{org}}{spec.path}" in routed) is (spec.per_org and not spec.fast), spec.path
    # the fast path finds a per-org form from the same declaration, not a table of its own
    for spec in table:
        if spec.fast and spec.per_org:
            assert table.fast_route(f"/demo{spec.path}") == (spec, "demo")
            assert table.fast_route(spec.path) == (spec, None)
    assert table.fast_route("/demo/access/v1/search/subject") is None
    assert table.fast_route("//access/v1/evaluation") is None
