"""Bad requests are denies that carry the error; unknown ids are plain denies."""

from __future__ import annotations

import pytest

from suite_authz.engine import Engine, Request
from tests.conftest import DECISION_KEYS


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request("asha", "erase", "estimate"), "action: `erase` is not one of"),
        (Request("asha", "view", "spaceship"), "resource_type: `spaceship` is not a finance"),
        (Request("asha", "view", "estimate", channel="fax"), "channel: `fax` is not one of"),
        (Request("asha", "view", "estimate", fields=("x",)), "fields: only an `edit`"),
        (Request("asha", "edit", "estimate", fields=("a b",)), "fields: `a b` is not a field"),
        (Request("asha", "view", "estimate", context={"mood": "x"}), "context.mood: unknown"),
        (Request("asha", "view", "estimate", context={"acting_as": 3}), "context.acting_as: must"),
        (Request("olivia", "enrol_integration_user", "user", "ben"), "context.product:"),
        (Request("olivia", "enrol_integration_user", "org"), "applies to `user`, not `org`"),
        (Request("olivia", "run_migration", "org", context={"enrolments": -1}), "0 or more"),
        (Request("", "view", "estimate"), "subject: must be a non-empty string"),
        (Request("asha", "view", "estimate", ""), "resource_id: must be a non-empty"),
    ],
)
def test_invalid_request_is_a_deny_carrying_the_error(
    demo: Engine, request_: Request, message: str
) -> None:
    d = demo.decide(request_)
    assert not d.allowed and d.invalid and d.acting_as is None
    assert message in d.errors[0]


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (Request("nobody", "view", "estimate"), "unknown subject `nobody`"),
        (Request("asha", "view", "estimate", "est-999"), "unknown estimate `est-999`"),
        (
            Request(
                "olivia", "enrol_integration_user", "user", "ghost", context={"product": "books"}
            ),
            "unknown user `ghost`",
        ),
        (Request("olivia", "run_migration", "org", "other"), "unknown org `other`"),
        (Request('" || true || "', "view", "estimate"), 'unknown subject `" || true || "`'),
        (Request("asha", "view", "estimate", 'est-1" || true'), "unknown estimate"),
    ],
)
def test_unknown_ids_are_plain_denies(demo: Engine, request_: Request, reason: str) -> None:
    d = demo.decide(request_)
    assert not d.allowed and not d.invalid and d.reasons[0].startswith(reason)


def test_new_record_placeholder_cannot_be_named_by_id(demo: Engine) -> None:
    # "" is the engine's "new record"; a caller can only reach it by leaving the id out.
    assert demo.decide(Request("asha", "view", "estimate", "")).invalid


def test_decision_is_immutable_and_serialises_with_stable_keys(demo: Engine) -> None:
    d = demo.decide(Request("asha", "view", "estimate", "est-1"))
    with pytest.raises(AttributeError):
        d.allowed = False  # type: ignore[misc]
    assert list(d.to_dict()) == DECISION_KEYS
    assert d.policy_version == demo.version


def test_backend_failure_is_a_deny(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(request: Request) -> object:
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(demo.backend, "answer", boom)
    d = demo.decide(Request("asha", "view", "estimate", "est-1"))
    assert not d.allowed and "simulated crash" in d.errors[0]


def test_cedar_evaluation_error_is_a_deny(demo: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from suite_authz.engine.backends import RawAnswer

    monkeypatch.setattr(
        demo.backend,
        "answer",
        lambda request: RawAnswer(
            allowed=True,
            determining=("books-integration-user",),
            errors=("error while evaluating policy",),
        ),
    )
    d = demo.decide(Request("asha", "view", "estimate", "est-1"))
    assert not d.allowed and d.errors == ("error while evaluating policy",)


def test_decide_many_gives_the_same_decisions_as_decide_one_by_one(demo: Engine) -> None:
    from suite_authz.engine.crosscheck import request_space

    requests = list(request_space(demo.org, demo.policies))[:600]
    requests.append(Request("asha", "erase", "estimate"))  # invalid, answered before Cedar
    assert demo.decide_many(requests) == [demo.decide(r) for r in requests]
