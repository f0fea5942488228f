"""Exit codes that cannot be mistaken (docs/cli.md "Exit codes"): 0 allow or clean, 1 deny,
findings or a failed guard, 2 bad input, 3 an internal error. A crash is never 1."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from suite_authz.cli.exits import CommandFailed
from suite_authz.cli.main import cli
from suite_authz.engine.core import (
    AuthzError,
    Conflict,
    Engine,
    InvalidOrg,
    InvalidRequest,
    PolicyError,
    Refused,
    Unavailable,
)
from suite_authz.engine.migration import MigrationRefused, StalePlan
from suite_authz.engine.store import StaleSnapshot, StoreError, StoreUnreachable
from suite_authz.server.errors import error_headers, status_of
from tests.conftest import DEMO

ASK = ["explain", "--org", str(DEMO), "--subject", "asha", "--action", "view"]
ASK += ["--resource", "estimate:est-1"]

# every error kind: (exit code, HTTP status); the CLI and the server read both from the error
KINDS = [
    (AuthzError, 2, 400),
    (InvalidOrg, 2, 400),
    (InvalidRequest, 2, 400),
    (PolicyError, 2, 400),
    (StoreError, 2, 400),
    (Conflict, 1, 409),
    (StaleSnapshot, 1, 409),
    (StalePlan, 1, 409),
    (Refused, 1, 403),
    (MigrationRefused, 1, 403),
    (Unavailable, 2, 503),
    (StoreUnreachable, 2, 503),
]


def _crash(*_: object, **__: object) -> None:
    raise RuntimeError("the explainer broke")


def test_an_exception_inside_the_explainer_exits_3_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It used to exit 1, which a script reads as a deny."""
    monkeypatch.delenv("AUTHZ_DEBUG", raising=False)
    monkeypatch.setattr(Engine, "decide", _crash)
    result = CliRunner().invoke(cli, ASK)
    assert result.exit_code == 3, (result.exit_code, result.output)
    assert result.stdout == ""
    said = result.stderr.strip().splitlines()
    assert said == [
        "authz: internal error: RuntimeError: the explainer broke "
        "(--debug or AUTHZ_DEBUG=1 prints the traceback)"
    ]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_prints_the_traceback_and_still_exits_3(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(Engine, "decide", _crash)
    if how == "env":
        monkeypatch.setenv("AUTHZ_DEBUG", "1")
        args = ASK
    else:
        monkeypatch.delenv("AUTHZ_DEBUG", raising=False)
        args = ["--debug", *ASK]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: the explainer broke" in result.stderr


def test_an_engine_error_escaping_a_command_is_its_own_code_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An AuthzError a command did not catch still exits with its kind's code."""

    def conflict(*_: object, **__: object) -> None:
        raise StaleSnapshot("org `demo`: the store holds a later version")

    monkeypatch.setattr(Engine, "decide", conflict)
    result = CliRunner().invoke(cli, ASK)
    assert result.exit_code == 1
    assert result.stderr.strip() == "authz: org `demo`: the store holds a later version"


@pytest.mark.parametrize(("kind", "code", "status"), KINDS, ids=lambda k: getattr(k, "__name__", k))
def test_each_error_kind_means_one_exit_code_and_one_status(
    kind: type[AuthzError], code: int, status: int
) -> None:
    error = kind("what is wrong")
    assert CommandFailed(error).exit_code == code
    assert status_of(error) == status
    assert ("Retry-After" in error_headers(status, error)) is (status == 503)


def test_a_deny_is_1_and_an_allow_0_and_bad_input_2() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ASK).exit_code == 0
    denied = [*ASK[:6], "delete", *ASK[7:]]
    assert runner.invoke(cli, denied).exit_code == 1
    typo = [*ASK[:6], "veiw", *ASK[7:]]
    assert runner.invoke(cli, typo).exit_code == 2
