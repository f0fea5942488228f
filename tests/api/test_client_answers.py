"""suite_authz.client against a sidecar that answers wrong: a fake server on
loopback sends exactly the bad answer, and the client must never read it as an allow.

Each test failed on 3b794ea (the names imported here are the ones it had, so that each case
fails on its own). A batch answered with one decision for three items; a duplicate `decision`
key; an allow trickled a byte at a time under `timeout=2.0`; `results: "olivia"`; an allow
sent as `text/html`."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any

import pytest

from suite_authz.client import AsyncAuthzClient, AuthzClient, AuthzUnavailable, evaluation

ALLOW = b'{"decision": true}'
THREE = [evaluation("asha", action, "estimate:est-1") for action in ("view", "delete", "edit")]


@dataclass
class Script:
    """What the fake sidecar sends to every request: a status, a content type, a body, and
    how long it waits between two bytes of the body (0: all at once)."""

    body: bytes = ALLOW
    status: int = 200
    content_type: str | None = "application/json"
    per_byte: float = 0.0
    headers_too: bool = False  # trickle the status line and headers as well as the body
    asked: list[dict[str, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def sidecar() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            script.asked.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            if script.headers_too:
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                self._trickle(f"{head}{len(script.body)}\r\n\r\n".encode() + script.body)
                return
            self.send_response(script.status)
            if script.content_type is not None:
                self.send_header("Content-Type", script.content_type)
            self.send_header("Content-Length", str(len(script.body)))
            self.end_headers()
            if not script.per_byte:
                self.wfile.write(script.body)
                return
            self._trickle(script.body)

        def _trickle(self, data: bytes) -> None:
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if script.done.wait(script.per_byte):  # the test is over: stop trickling
                    return

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/demo", script
    finally:
        script.done.set()
        server.shutdown()
        server.server_close()


def _answer(script: Script, data: Any) -> None:
    script.body = json.dumps(data).encode()


@pytest.mark.parametrize(
    ("semantic", "answered"),
    [
        ("execute_all", [True]),  # one decision for three items: all() would hold
        ("execute_all", [True, True, True, True]),
        ("execute_all", [True, "true", True]),
        ("execute_all", [True, None, True]),
        ("deny_on_first_deny", [True, True]),  # stopped without a deny
        ("deny_on_first_deny", [False, True, True]),  # went on after the deny
        ("permit_on_first_permit", [False]),  # stopped without a permit
    ],
)
def test_a_batch_answer_that_is_not_one_boolean_decision_per_item_raises(
    sidecar: tuple[str, Script], semantic: str, answered: list[Any]
) -> None:
    url, script = sidecar
    _answer(script, {"evaluations": [{"decision": verdict} for verdict in answered]})
    with AuthzClient(url) as authz, pytest.raises(AuthzUnavailable) as raised:
        authz.check_many(THREE, semantic=semantic)
    assert "evaluations" in str(raised.value) or "decisions for 3 items" in str(raised.value)
    assert len(script.asked) == 1  # a broken answer is not retried


def test_a_short_batch_answer_is_never_all_allowed(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    _answer(script, {"evaluations": [{"decision": True}]})
    with AuthzClient(url) as authz:
        assert authz.all_allowed(THREE) is False
        assert authz.all_allowed([]) is False
        with pytest.raises(ValueError, match="at least one"):
            authz.check_many([])
    _answer(script, {"evaluations": [{"decision": True}] * 3})
    with AuthzClient(url) as authz:
        assert authz.all_allowed(THREE) is True
        assert [d.allowed for d in authz.check_many(THREE)] == [True, True, True]


def test_the_asyncio_client_refuses_a_short_batch_too(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    _answer(script, {"evaluations": [{"decision": True}]})

    async def ask() -> tuple[bool, str]:
        async with AsyncAuthzClient(url) as authz:
            with pytest.raises(AuthzUnavailable) as raised:
                await authz.check_many(THREE)
            return await authz.all_allowed(THREE), str(raised.value)

    allowed, why = asyncio.run(ask())
    assert allowed is False and "1 decisions for 3 items" in why


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"decision": false, "decision": true}', "repeats the key `decision`"),
        (b'{"decision": true, "context": {"a": 1, "a": 2}}', "repeats the key `a`"),
        (b'{"decision": true, "context": NaN}', "`NaN`, which is not JSON"),
    ],
)
def test_a_duplicate_key_is_a_deny_naming_it(
    sidecar: tuple[str, Script], body: bytes, named: str
) -> None:
    url, script = sidecar
    script.body = body
    with AuthzClient(url) as authz:
        decision = authz.check("asha", "view", "estimate:est-1")
        assert not decision and named in (decision.error or "")
        assert authz.is_allowed("asha", "view", "estimate:est-1") is False
    with AuthzClient(url, raise_errors=True) as authz, pytest.raises(AuthzUnavailable) as raised:
        authz.check("asha", "view", "estimate:est-1")
    assert named in str(raised.value)


def test_a_duplicate_key_in_a_batch_raises(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.body = b'{"evaluations": [{"decision": false, "decision": true}]}'
    with AuthzClient(url) as authz, pytest.raises(AuthzUnavailable, match="repeats the key"):
        authz.check_many(THREE[:1])


@pytest.mark.parametrize("content_type", ["text/html", "text/plain; charset=utf-8", None])
def test_an_allow_in_another_content_type_is_a_deny_naming_it(
    sidecar: tuple[str, Script], content_type: str | None
) -> None:
    url, script = sidecar
    script.content_type = content_type
    with AuthzClient(url) as authz:
        decision = authz.check("asha", "view", "estimate:est-1")
    assert not decision and "not `application/json`" in (decision.error or "")
    assert f"`{content_type or 'none'}`" in (decision.error or "")
    assert len(script.asked) == 1


def test_json_with_a_charset_is_still_read(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.content_type = "application/json; charset=utf-8"
    with AuthzClient(url) as authz:
        assert authz.check("asha", "view", "estimate:est-1")


# A trickled allow: 44 bytes at one every 0.5 s is 22 s, which 3b794ea waited out and read as an
# allow under timeout=2.0. The bound below is generous and still far under the trickle.
TRICKLED = b'{"decision": true}' + b" " * 26
WELL_BEFORE_THE_TRICKLE_ENDS = 8.0


def test_a_trickled_allow_is_cut_at_the_deadline_as_a_deny(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.body, script.per_byte = TRICKLED, 0.5
    started = time.monotonic()
    with AuthzClient(url, timeout=2.0, retries=2) as authz:
        decision = authz.check("asha", "view", "estimate:est-1")
    took = time.monotonic() - started
    assert not decision and "deadline" in (decision.error or "")
    assert took < WELL_BEFORE_THE_TRICKLE_ENDS
    assert len(script.asked) == 1  # the deadline is the call's: no retry starts after it


def test_the_asyncio_client_cuts_a_trickle_at_the_deadline(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.body, script.per_byte = TRICKLED, 0.5

    async def ask() -> tuple[bool, str | None, float]:
        started = time.monotonic()
        async with AsyncAuthzClient(url, timeout=2.0, retries=2) as authz:
            decision = await authz.check("asha", "view", "estimate:est-1")
        return decision.allowed, decision.error, time.monotonic() - started

    allowed, error, took = asyncio.run(ask())
    assert not allowed and "deadline" in (error or "")
    assert took < WELL_BEFORE_THE_TRICKLE_ENDS


def test_the_asyncio_deadline_covers_trickled_headers(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.body, script.per_byte, script.headers_too = ALLOW, 0.5, True

    async def ask() -> tuple[bool, str | None, float]:
        started = time.monotonic()
        async with AsyncAuthzClient(url, timeout=2.0, retries=2) as authz:
            decision = await authz.check("asha", "view", "estimate:est-1")
        return decision.allowed, decision.error, time.monotonic() - started

    allowed, error, took = asyncio.run(ask())
    assert not allowed and "deadline" in (error or "")
    assert took < WELL_BEFORE_THE_TRICKLE_ENDS


def test_retries_stay_inside_the_deadline(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    script.status, script.body = 503, b'{"status": 503, "message": "not ready"}'
    started = time.monotonic()
    # backoff 0.2, 0.4, 0.8, ...: five retries would sleep 6.2 s, past a 1 s deadline
    with AuthzClient(url, timeout=1.0, retries=5, backoff=0.2) as authz:
        decision = authz.check("asha", "view", "estimate:est-1")
    assert not decision and "deadline" in (decision.error or "")
    assert time.monotonic() - started < WELL_BEFORE_THE_TRICKLE_ENDS
    assert 1 <= len(script.asked) < 6


@pytest.mark.parametrize(
    ("page", "named"),
    [
        ({"results": "olivia"}, "`results` is not a list"),  # a string: six one-letter ids
        ({"results": ["olivia"]}, "results[0] is not an object"),
        ({"results": [{"type": "user", "id": 7}]}, "results[0]: `id`"),
        ({"results": [{"type": "user"}]}, "results[0]: `id`"),
        ({"results": [{"type": "user", "id": "olivia"}], "page": "x"}, "`page` is not"),
        ({"results": [{"type": "user", "id": "o"}], "page": {"next_token": 5}}, "next_token"),
        ({}, "`results` is not a list"),
    ],
)
def test_a_search_page_of_the_wrong_shape_yields_nothing(
    sidecar: tuple[str, Script], page: dict[str, Any], named: str
) -> None:
    url, script = sidecar
    _answer(script, page)
    # islice: a token read as truthy would page for ever
    with AuthzClient(url) as authz:
        assert list(islice(authz.search_subjects("view", "estimate:est-1"), 3)) == []
    with AuthzClient(url, raise_errors=True) as authz, pytest.raises(AuthzUnavailable) as raised:
        list(islice(authz.search_subjects("view", "estimate:est-1"), 3))
    assert named in str(raised.value)


def test_an_action_search_result_needs_a_name(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    _answer(script, {"results": [{"type": "user", "id": "olivia"}]})
    with AuthzClient(url) as authz:
        assert list(authz.search_actions("asha", "estimate:est-1")) == []
    _answer(script, {"results": [{"name": "view"}], "page": {"next_token": ""}})
    with AuthzClient(url) as authz:
        assert list(authz.search_actions("asha", "estimate:est-1")) == [{"name": "view"}]


def test_the_asyncio_search_refuses_a_string_of_results(sidecar: tuple[str, Script]) -> None:
    url, script = sidecar
    _answer(script, {"results": "olivia"})

    async def ask() -> list[dict[str, Any]]:
        async with AsyncAuthzClient(url) as authz:
            return [r async for r in authz.search_subjects("view", "estimate:est-1")]

    assert asyncio.run(ask()) == []
