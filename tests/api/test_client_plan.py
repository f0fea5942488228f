"""`plan_resources` (POST /access/v1/plan/resource) in both clients: the body it sends, the plans
it accepts, and every failure raised as a typed error, never read as an empty or allow-all
plan: a 422 is Unplannable; an answer that is not a plan for what was asked (a missing or
unknown `kind`, a kind the condition contradicts, a malformed tree, another user's plan) is an
AuthzProtocolError; a 503 is retried, then AuthzUnavailable. The same against a real sidecar
once it serves plans: tests/api/test_client_plan_served.py."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest

from suite_authz.client import (
    AsyncAuthzClient,
    AuthzClient,
    AuthzProtocolError,
    AuthzRequestError,
    AuthzUnavailable,
    Unplannable,
)

CONDITION = {
    "op": "and",
    "args": [
        {"op": "in", "path": "status", "values": ["draft", "approved"]},
        {"op": "not", "arg": {"op": "eq", "path": "submitted_by", "value": "asha"}},
    ],
}
PLAN: dict[str, Any] = {
    "kind": "conditional",
    "subject": "asha",
    "action": "edit",
    "resource_type": "invoice",
    "condition": CONDITION,
    "policy_version": "sha256:abc",
}


def _client(
    status: int, body: Any, seen: list[httpx.Request] | None = None, **options: Any
) -> AuthzClient:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=raw, headers={"content-type": "application/json"})

    options.setdefault("backoff", 0.001)
    return AuthzClient(
        "http://pdp.test/demo", transport=httpx.MockTransport(reply), token="t", **options
    )


def test_a_plan_is_asked_like_a_resource_search_and_returned_whole() -> None:
    seen: list[httpx.Request] = []
    with _client(200, PLAN, seen) as authz:
        plan = authz.plan_resources("asha", "edit", "invoice", context={"channel": "crm"})
    assert plan == PLAN
    (request,) = seen
    assert request.url == "http://pdp.test/demo/access/v1/plan/resource"
    assert request.headers["authorization"] == "Bearer t" and request.headers["x-request-id"]
    assert json.loads(request.content) == {
        "subject": {"type": "user", "id": "asha"},
        "action": {"name": "edit"},
        "resource": {"type": "invoice"},
        "context": {"channel": "crm"},
    }


@pytest.mark.parametrize(
    ("condition", "kind"),
    [({"op": "true"}, "always"), ({"op": "false"}, "never"), (CONDITION, "conditional")],
)
def test_each_kind_of_plan_is_accepted(condition: dict[str, Any], kind: str) -> None:
    answer = {**PLAN, "action": "view", "condition": condition, "kind": kind}
    if kind != "never":
        answer["redact_fields"] = ["cost_price"]
    else:
        answer |= {"reasons": ["no seat"], "missing": ["a Books seat"]}
    with _client(200, answer) as authz:
        assert authz.plan_resources("asha", "view", "invoice") == answer


def test_a_422_is_unplannable_never_an_empty_or_allow_all_plan() -> None:
    body = {"status": 422, "message": "the operator `like` on a record is not planned"}
    for raise_errors in (False, True):
        seen: list[httpx.Request] = []
        with (
            _client(422, body, seen, raise_errors=raise_errors) as authz,
            pytest.raises(Unplannable) as caught,
        ):
            authz.plan_resources("asha", "edit", "invoice")
        assert caught.value.status == 422 and "`like`" in str(caught.value)
        assert isinstance(caught.value, AuthzRequestError) and len(seen) == 1  # not retried


def test_another_4xx_is_a_request_error_and_a_503_is_retried_then_unavailable() -> None:
    with (
        _client(400, {"status": 400, "message": "unknown action `veiw`"}) as authz,
        pytest.raises(AuthzRequestError) as caught,
    ):
        authz.plan_resources("asha", "veiw", "invoice")
    assert caught.value.status == 400 and not isinstance(caught.value, Unplannable)
    seen: list[httpx.Request] = []
    with (
        _client(503, {"status": 503, "message": "not ready"}, seen, retries=2) as authz,
        pytest.raises(AuthzUnavailable, match="HTTP 503"),
    ):
        authz.plan_resources("asha", "edit", "invoice")
    assert len(seen) == 3


def _broken(change: dict[str, Any] | None = None, drop: str | None = None) -> dict[str, Any]:
    answer = copy.deepcopy(PLAN) | (change or {})
    if drop:
        del answer[drop]
    return answer


BROKEN: list[tuple[Any, str]] = [
    (_broken(drop="kind"), "`kind` is not one of"),
    (_broken({"kind": "sometimes"}), "`kind` is not one of"),
    (_broken({"kind": "always"}), "its condition is `and`"),  # kind and condition disagree
    (_broken({"kind": "conditional", "condition": {"op": "true"}}), "its condition is `true`"),
    (_broken(drop="condition"), "no `condition`"),
    (_broken({"condition": {"op": "like", "path": "title", "value": "%"}}), "unknown operator"),
    (_broken({"condition": {"op": "eq", "path": "status"}}), "`eq` takes the keys"),
    (_broken({"condition": {"op": "eq", "path": "status", "value": None}}), "`value` is not"),
    (_broken({"condition": {"op": "eq", "path": "", "value": "x"}}), "`path` is not"),
    (_broken({"condition": {"op": "in", "path": "status", "values": "draft"}}), "`values`"),
    (_broken({"condition": {"op": "and", "args": []}}), "`args` is not a non-empty list"),
    (  # an extra key could change the meaning: refused, not ignored
        _broken({"condition": {"op": "eq", "path": "status", "value": "x", "negate": True}}),
        "`eq` takes the keys",
    ),
    (
        _broken({"condition": {"op": "or", "args": [{"op": "not", "arg": "status"}]}}),
        "condition.args[0].arg is not an object",
    ),
    (_broken({"subject": "bo"}), '`subject` is "bo", not "asha"'),  # another user's plan
    (_broken({"resource_type": "estimate"}), "`resource_type`"),
    (_broken(drop="policy_version"), "`policy_version`"),
    (_broken({"redact_fields": "cost_price"}), "`redact_fields` is not a list"),
    ([PLAN], "not an object"),
    (b'{"kind": "never", "kind": "always"}', "repeats the key `kind`"),
]


@pytest.mark.parametrize(("answer", "why"), BROKEN)
def test_an_answer_that_is_not_a_plan_for_what_was_asked_raises(answer: Any, why: str) -> None:
    for raise_errors in (False, True):
        with (
            _client(200, answer, raise_errors=raise_errors) as authz,
            pytest.raises(AuthzProtocolError) as caught,
        ):
            authz.plan_resources("asha", "edit", "invoice")
        assert why in str(caught.value)


def test_a_view_plan_that_admits_records_must_say_what_to_redact() -> None:
    answer = {**PLAN, "action": "view"}
    with _client(200, answer) as authz, pytest.raises(AuthzProtocolError, match="redact"):
        authz.plan_resources("asha", "view", "invoice")


def test_a_nested_tree_beyond_any_plan_is_refused_not_a_recursion_error() -> None:
    deep: dict[str, Any] = {"op": "eq", "path": "status", "value": "x"}
    for _ in range(200):
        deep = {"op": "not", "arg": deep}
    with (
        _client(200, {**PLAN, "condition": deep}) as authz,
        pytest.raises(AuthzProtocolError, match="nested over"),
    ):
        authz.plan_resources("asha", "edit", "invoice")


def test_the_asyncio_client_plans_and_fails_the_same() -> None:
    def transport(status: int, body: Any) -> httpx.MockTransport:
        raw = json.dumps(body).encode()
        headers = {"content-type": "application/json"}
        return httpx.MockTransport(lambda _: httpx.Response(status, content=raw, headers=headers))

    async def ask(status: int, body: Any) -> dict[str, Any]:
        async with AsyncAuthzClient(
            "http://pdp.test", transport=transport(status, body), backoff=0.001
        ) as authz:
            return await authz.plan_resources("asha", "edit", "invoice")

    assert asyncio.run(ask(200, PLAN)) == PLAN
    with pytest.raises(Unplannable):
        asyncio.run(ask(422, {"status": 422, "message": "not planned"}))
    with pytest.raises(AuthzProtocolError, match="`kind`"):
        asyncio.run(ask(200, {**PLAN, "kind": None}))
    with pytest.raises(AuthzUnavailable):
        asyncio.run(ask(502, {"status": 502, "message": "bad gateway"}))
