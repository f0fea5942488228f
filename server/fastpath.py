"""The two routes a CRM calls before every finance action, answered straight from ASGI
messages: Starlette's request, routing and response objects cost more than the JSON around a
decision (docs/benchmarks.md, "The sidecar under load"). Same checks, same errors as every
other route."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from suite_authz.server.authzen import HttpError
from suite_authz.server.errors import HANDLED, error_body, error_headers, status_of
from suite_authz.server.httpio import bounded, check_json, check_length, decode_body, request_id
from suite_authz.server.jsonio import json_bytes
from suite_authz.server.metrics import Metrics

log = logging.getLogger("authz.server")
Answer = Callable[[dict[str, Any], str], dict[str, Any]]


class _Gone(Exception):
    """The client disconnected before its body arrived: nobody to answer."""


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def answer_raw(
    scope: Scope,
    receive: Receive,
    send: Send,
    answer: Answer,
    check_token: Callable[[bytes], None],
    metrics: Metrics,
) -> None:
    headers = dict(scope["headers"])
    rid = request_id(headers.get(b"x-request-id"))
    try:
        if scope["method"] != "POST":
            raise HttpError(405, f"method: {scope['path']} takes POST", {"Allow": "POST"})
        check_token(headers.get(b"authorization", b""))
        check_json(headers.get(b"content-type"))
        check_length(headers.get(b"content-length"))
        raw = await bounded(_chunks(receive))
        # One turn of the loop before deciding: the loop reads every connection that has
        # sent something since its last turn before any decision runs, instead of running
        # one connection's decisions after another's while the rest wait unread. Under 32
        # connections of batches of 20 this took p99 from 280-400 ms to 80-100 (issue 14).
        await asyncio.sleep(0)
        status, body, extra = 200, answer(decode_body(raw), rid), {}
    except _Gone:
        return
    except HANDLED as exc:
        status = status_of(exc)
        metrics.http_error(status)
        body = error_body(status, str(exc))
        extra = error_headers(status, exc)
    except Exception as exc:  # never an allow: an answer that says it failed
        log.exception("evaluation failed")
        metrics.http_error(500)
        status, body = 500, error_body(500, f"internal error: {type(exc).__name__}")
        extra = {}
    payload = json_bytes(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", rid.encode("ascii")),
                *((k.lower().encode(), v.encode()) for k, v in extra.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
