"""Bad requests are denies that carry the error; unknown ids are plain denies."""

from __future__ import annotations

import pytest

from suite_authz.engine.core import NEW_RECORD_ID, Engine, Request, context_value, parse_resource
from suite_authz.engine.core.errors import InvalidRequest
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


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (
            Request("ashaa", "view", "estimate"),
            "unknown subject `ashaa`: org `demo` has no such user; did you mean `asha`?",
        ),
        (
            Request("Olivia", "view", "estimate"),
            "unknown subject `Olivia`: org `demo` has no such user; did you mean `olivia`?",
        ),
        (
            Request("asha", "view", "estimate", "est-10"),
            "unknown estimate `est-10`: org `demo` has no such record; did you mean `est-1`?",
        ),
        (
            Request("asha", "view", "dashboard", "dash-insight"),
            "unknown dashboard `dash-insight`: org `demo` has no such record; "
            "did you mean `dash-insights`?",
        ),
        (
            Request(
                "olivia", "enrol_integration_user", "user", "bne", context={"product": "books"}
            ),
            "unknown user `bne`: org `demo` has no such user to enrol; did you mean `ben`?",
        ),
        (
            Request("olivia", "run_migration", "org", "dem"),
            "unknown org `dem`: this snapshot is org `demo`; did you mean `demo`?",
        ),
    ],
)
def test_an_unknown_id_close_to_a_known_one_gets_a_did_you_mean(
    demo: Engine, request_: Request, reason: str
) -> None:
    d = demo.decide(request_)
    assert not d.allowed and not d.invalid and d.reasons == (reason,)


@pytest.mark.parametrize(
    "request_",
    [
        Request("nobody", "view", "estimate"),
        Request("asha", "view", "estimate", "est-999"),
        Request("asha", "view", "estimate", "inv-1"),  # an invoice's id is no estimate's
    ],
)
def test_an_unknown_id_close_to_none_gets_no_guess(demo: Engine, request_: Request) -> None:
    assert "did you mean" not in demo.decide(request_).reasons[0]


def test_ids_hints_are_worked_out_for_unknown_ids_only(
    demo: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> str:
        raise AssertionError("a hint worked out for a known id")

    monkeypatch.setattr("suite_authz.engine.core.decide.did_you_mean_id", refuse)
    monkeypatch.setattr("suite_authz.engine.core.decide.did_you_mean", refuse)
    assert demo.decide(Request("asha", "view", "estimate", "est-1")).allowed
    assert demo.decide(Request("olivia", "run_migration", "org", "demo")).rules
    enrol = Request("olivia", "enrol_integration_user", "user", "ben", context={"product": "books"})
    assert not demo.decide(enrol).invalid
    with pytest.raises(AssertionError, match="a hint worked out"):
        demo.decide(Request("ashaa", "view", "estimate"))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            Request("asha", "view", "estimate", channel="crn"),
            "channel: `crn` is not one of crm, direct; did you mean `crm`?",
        ),
        (
            Request("asha", "view", "estimate", channel="Direct"),
            "channel: `Direct` is not one of crm, direct; did you mean `direct`?",
        ),
        (
            Request("asha", "view", "estimate", context={"actingas": "ben"}),
            "context.actingas: unknown key; did you mean `acting_as`? "
            "(known: acting_as, enrolments, product, sender)",
        ),
        (
            Request("olivia", "enrol_integration_user", "user", "ben", context={"product": "book"}),
            "context.product: `enrol_integration_user` needs one of books, subscriptions, "
            "got `book`; did you mean `books`?",
        ),
    ],
)
def test_a_misspelt_channel_or_context_key_gets_a_did_you_mean(
    demo: Engine, request_: Request, message: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        demo.validate(request_)
    assert str(refused.value) == message
    assert demo.decide(request_).errors == (message,)


def test_a_cli_context_key_gets_the_same_did_you_mean() -> None:
    with pytest.raises(InvalidRequest, match="unknown key; did you mean `sender`"):
        context_value("sendr", "fay@demo.example")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("estimate:est-1", ("estimate", "est-1")),
        ("estimate", ("estimate", None)),
        (f"estimate:{NEW_RECORD_ID}", ("estimate", None)),  # as the sidecar's "id": "#new"
        ("estimate:", ("estimate", "")),  # refused by check_request, never a new record
        ("estimate:#newer", ("estimate", "#newer")),
    ],
)
def test_parse_resource_reads_new_as_a_new_record(
    text: str, parsed: tuple[str, str | None]
) -> None:
    assert parse_resource(text) == parsed


def test_estimate_new_is_decided_as_a_new_estimate(demo: Engine) -> None:
    kind, rid = parse_resource("estimate:#new")
    decision = demo.decide(Request("asha", "create", kind, rid))
    assert decision.allowed and decision == demo.decide(Request("asha", "create", "estimate"))


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
    from suite_authz.engine.core.backends import RawAnswer

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
    from suite_authz.engine.review.crosscheck import request_space

    requests = list(request_space(demo.org, demo.policies))[:600]
    requests.append(Request("asha", "erase", "estimate"))  # invalid, answered before Cedar
    assert demo.decide_many(requests) == [demo.decide(r) for r in requests]
