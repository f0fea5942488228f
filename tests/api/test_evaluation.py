"""POST /access/v1/evaluation and /evaluations: AuthZEN shapes, errors, explanations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.server.state import State
from tests.api.conftest import evaluation

JSON = {"content-type": "application/json"}


def test_allow_carries_acting_as_and_echoes_the_request_id(client: TestClient) -> None:
    r = client.post(
        "/access/v1/evaluation",
        json=evaluation("asha", "create", "estimate"),
        headers={"X-Request-ID": "req-1"},
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == "req-1"
    body = r.json()
    assert body["decision"] is True
    assert body["context"]["acting_as"] == {"user": "asha", "product": "books"}
    assert body["context"]["rules"] == ["D4"]


def test_deny_is_200_with_reasons_and_a_request_id_when_none_was_sent(client: TestClient) -> None:
    r = client.post("/access/v1/evaluation", json=evaluation("ben", "create", "invoice"))
    assert r.status_code == 200 and len(r.headers["x-request-id"]) == 32
    assert r.json()["decision"] is False and "D2" in r.json()["context"]["rules"]


def test_explain_true_gives_the_complete_decision(client: TestClient) -> None:
    body = evaluation("asha", "delete", "estimate:est-1", explain=True)
    ctx = client.post("/access/v1/evaluation", json=body).json()["context"]
    assert ctx["missing"] == [
        "integration users of Books may view, create and edit estimates, not delete them (D4)"
    ]
    assert {
        "rules",
        "policies",
        "reasons",
        "acting_as",
        "sender",
        "redact_fields",
        "policy_version",
        "errors",
    } <= set(ctx)


def test_fields_and_channel_reach_the_engine(client: TestClient) -> None:
    body = evaluation("asha", "edit", "invoice:inv-1")
    body["resource"]["properties"] = {"fields": ["discount"]}  # type: ignore[index]
    assert client.post("/access/v1/evaluation", json=body).json()["context"]["rules"] == ["D7"]
    body = evaluation("asha", "view", "invoice:inv-1", channel="direct")
    assert client.post("/access/v1/evaluation", json=body).json()["context"]["rules"] == ["D5"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "body: not JSON"),
        ("[1, 2]", "body: must be a JSON object"),
        ("{}", "subject: required"),
        (
            '{"subject": {"type": "user"}, "action": {"name": "view"}, '
            '"resource": {"type": "estimate", "id": "#new"}}',
            "subject.id: required",
        ),
        (
            '{"subject": {"type": "group", "id": "x"}, "action": {"name": "view"}, '
            '"resource": {"type": "estimate", "id": "#new"}}',
            'subject.type: must be "user"',
        ),
        (
            '{"subject": {"type": "user", "id": 7}, "action": {"name": "view"}, '
            '"resource": {"type": "estimate", "id": "#new"}}',
            "subject.id: must be a non-empty string",
        ),
        (
            '{"subject": {"type": "user", "id": "asha"}, "action": "view", '
            '"resource": {"type": "estimate", "id": "#new"}}',
            "action: must be an object",
        ),
        (
            '{"subject": {"type": "user", "id": "asha"}, "action": {"name": "erase"}, '
            '"resource": {"type": "estimate", "id": "#new"}}',
            "action: `erase` is not one of",
        ),
        (
            '{"subject": {"type": "user", "id": "asha"}, "action": {"name": "view"}, '
            '"resource": {"type": "estimate", "id": "#new"}, "context": {"explain": "yes"}}',
            "context.explain: must be true or false",
        ),
    ],
)
def test_malformed_or_wrong_shape_is_400_naming_the_field(
    client: TestClient, body: str, message: str
) -> None:
    r = client.post(
        "/access/v1/evaluation", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and message in r.json()["message"]
    assert "decision" not in r.json()


def test_oversize_body_is_413(client: TestClient) -> None:
    r = client.post("/access/v1/evaluation", content=b"{" + b" " * (1 << 20) + b"}", headers=JSON)
    assert r.status_code == 413


def test_oversize_body_without_a_length_is_413_too(client: TestClient) -> None:
    def chunks() -> object:
        yield b"{"
        for _ in range(64):
            yield b" " * (1 << 15)
        yield b"}"

    r = client.post("/access/v1/evaluation", content=chunks(), headers=JSON)  # type: ignore[arg-type]
    assert r.status_code == 413 and "larger than" in r.json()["message"]


@pytest.mark.parametrize("path", ["/access/v1/evaluation", "/access/v1/evaluations"])
def test_other_methods_are_405_with_a_json_body(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"X-Request-ID": "r-405"})
    assert r.status_code == 405 and "takes POST" in r.json()["message"]
    assert r.headers["x-request-id"] == "r-405"


def test_an_engine_crash_is_a_500_never_a_decision(
    served: tuple[TestClient, State, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, state, _ = served

    def crash(org: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(state, "engine_for", crash)
    r = client.post("/access/v1/evaluation", json=evaluation("asha", "create", "estimate"))
    assert r.status_code == 500 and "decision" not in r.json()
    assert r.json()["message"] == "internal error: RuntimeError"


@pytest.mark.parametrize("body", [b'{"a": 1e999999}', b'{"a": "\\ud800"}', b"\xff\xfe"])
def test_json_the_decoder_refuses_is_400(client: TestClient, body: bytes) -> None:
    r = client.post("/access/v1/evaluation", content=body, headers=JSON)
    assert r.status_code == 400 and "not JSON" in r.json()["message"]


@pytest.mark.parametrize("subject", ["nobody", 'x" || true || "', 'User::"olivia"'])
def test_unknown_and_injection_shaped_ids_are_plain_denies(
    client: TestClient, subject: str
) -> None:
    r = client.post("/access/v1/evaluation", json=evaluation(subject, "view", "estimate:est-1"))
    assert r.status_code == 200 and r.json()["decision"] is False
    assert "unknown subject" in r.json()["context"]["reasons"][0]


def test_an_unknown_id_or_a_misspelt_channel_gets_the_engine_s_did_you_mean(
    client: TestClient,
) -> None:
    r = client.post("/access/v1/evaluation", json=evaluation("ashaa", "view", "estimate:est-1"))
    assert r.status_code == 200 and r.json()["context"]["reasons"] == [
        "unknown subject `ashaa`: org `demo` has no such user; did you mean `asha`?"
    ]
    r = client.post("/access/v1/evaluation", json=evaluation("asha", "view", "estimate:est-10"))
    assert r.json()["context"]["reasons"] == [
        "unknown estimate `est-10`: org `demo` has no such record; did you mean `est-1`?"
    ]
    body = evaluation("asha", "view", "estimate:est-1", channel="crn")
    r = client.post("/access/v1/evaluation", json=body)
    assert r.status_code == 400
    assert "channel: `crn` is not one of crm, direct; did you mean `crm`?" in r.json()["message"]


def test_batch_defaults_overrides_and_per_item_errors(client: TestClient) -> None:
    body = {
        "subject": {"type": "user", "id": "asha"},
        "action": {"name": "view"},
        "evaluations": [
            {"resource": {"type": "estimate", "id": "est-1"}},
            {"resource": {"type": "estimate", "id": "est-1"}, "action": {"name": "delete"}},
            {"resource": {"type": "spaceship", "id": "#new"}},
            {
                "subject": {"type": "user", "id": "ben"},
                "resource": {"type": "invoice", "id": "#new"},
            },
        ],
    }
    out = client.post("/access/v1/evaluations", json=body).json()["evaluations"]
    assert [e["decision"] for e in out] == [True, False, False, False]
    assert out[2]["context"]["error"]["message"].startswith("evaluations[2].resource_type:")


@pytest.mark.parametrize(
    ("semantic", "count"),
    [("execute_all", 3), ("deny_on_first_deny", 2), ("permit_on_first_permit", 1)],
)
def test_batch_semantics(client: TestClient, semantic: str, count: int) -> None:
    body = {
        "subject": {"type": "user", "id": "asha"},
        "options": {"evaluations_semantic": semantic},
        "evaluations": [
            {"action": {"name": "view"}, "resource": {"type": "estimate", "id": "#new"}},
            {"action": {"name": "delete"}, "resource": {"type": "estimate", "id": "#new"}},
            {"action": {"name": "edit"}, "resource": {"type": "estimate", "id": "#new"}},
        ],
    }
    out = client.post("/access/v1/evaluations", json=body).json()["evaluations"]
    assert len(out) == count


def test_unknown_semantic_is_400(client: TestClient) -> None:
    body = {"options": {"evaluations_semantic": "sometimes"}, "evaluations": []}
    assert client.post("/access/v1/evaluations", json=body).status_code == 400


def test_decision_log_has_one_masked_line_per_decision(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    client.post(
        "/access/v1/evaluation",
        headers={"X-Request-ID": "r-7"},
        json=evaluation("fay", "send_email", "estimate:est-2", sender="olivia@demo.example"),
    )
    lines = (tmp / "decisions.jsonl").read_text().splitlines()
    entry = json.loads(lines[-1])
    assert entry["request_id"] == "r-7" and entry["decision"] is False
    assert entry["rules"] == ["D11"] and entry["policy_version"]
    assert entry["request"]["context"]["sender"].startswith("sha256:")
    assert "olivia@demo.example" not in lines[-1]


def test_batch_writes_one_log_line_per_evaluated_item(
    served: tuple[TestClient, State, Path],
) -> None:
    client, _, tmp = served
    body = {
        "subject": {"type": "user", "id": "asha"},
        "evaluations": [
            {"action": {"name": a}, "resource": {"type": "estimate", "id": "#new"}}
            for a in ("view", "create", "delete")
        ]
        + [{"action": {"name": "erase"}, "resource": {"type": "estimate", "id": "#new"}}],
    }
    client.post("/access/v1/evaluations", json=body, headers={"X-Request-ID": "b-1"})
    lines = [json.loads(x) for x in (tmp / "decisions.jsonl").read_text().splitlines()]
    assert [e["decision"] for e in lines if e["request_id"] == "b-1"] == [True, True, False]


def test_r3_the_rules_of_a_decision_do_not_change_with_the_explain_flag(
    served: tuple[TestClient, State, Path],
) -> None:
    # The same deny (nothing forbade it) asked plainly and with the full explanation: the rules
    # are part of the decision, so the answer, the log and the metrics name the same ones.
    client, _, tmp = served
    plain = evaluation("asha", "delete", "estimate:est-1")
    full = evaluation("asha", "delete", "estimate:est-1", explain=True)
    a = client.post("/access/v1/evaluation", json=plain).json()["context"]["rules"]
    b = client.post("/access/v1/evaluation", json=full).json()["context"]["rules"]
    assert a == b == ["D4"]
    log = (tmp / "decisions.jsonl").read_text().splitlines()
    assert [json.loads(line)["rules"] for line in log[-2:]] == [["D4"], ["D4"]]
    metrics = client.get("/metrics").text
    assert 'rule="D4"' in metrics and 'rule=""' not in metrics


def test_r4_a_field_the_module_does_not_have_is_a_400_and_an_error_item_in_a_batch(
    client: TestClient,
) -> None:
    body = evaluation("asha", "edit", "invoice:inv-1")
    body["resource"]["properties"] = {"fields": ["Discount"]}  # type: ignore[index]
    r = client.post("/access/v1/evaluation", json=body)
    assert r.status_code == 400
    assert "`Discount` is not a field of invoices; did you mean `discount`?" in r.json()["message"]
    good = evaluation("asha", "edit", "invoice:inv-1")
    batch = {"evaluations": [{k: v for k, v in x.items() if k != "context"} for x in (body, good)]}
    batch["context"] = {"org": "demo"}
    answers = client.post("/access/v1/evaluations", json=batch).json()["evaluations"]
    assert answers[0]["decision"] is False and "is not a field of invoices" in str(answers[0])
    assert answers[1]["decision"] is True
