"""The two routes a CRM calls before every finance action, answered straight from ASGI
messages: Starlette's request, routing and response objects cost more than the JSON around a
decision (docs/benchmarks.md, "The sidecar under load"). Which routes these are is the route
table's word (server/routes.py); the checks and the errors are the guard's (server/guard.py),
the same as every other route's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.types import Receive, Scope, Send

from suite_authz.server.bodies import json_answer, read_json, request_id
from suite_authz.server.guard import Guard
from suite_authz.server.routes import RouteSpec


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
    scope: Scope, receive: Receive, send: Send, spec: RouteSpec, org: str | None, guard: Guard
) -> None:
    """A fast route (server/routes.py), `org` the one its per-org path names."""
    headers = dict(scope["headers"])
    rid = request_id(headers.get(b"x-request-id"))
    try:
        guard.admit(spec, scope["method"], headers.get(b"authorization", b""), org)
        body = await read_json(
            headers.get(b"content-type"), headers.get(b"content-length"), _chunks(receive)
        )
        # One turn of the loop before deciding: the loop reads every connection that has
        # sent something since its last turn before any decision runs, instead of running
        # one connection's decisions after another's while the rest wait unread. Under 32
        # connections of batches of 20 this took p99 from 280-400 ms to 80-100.
        await asyncio.sleep(0)
        status = 200
        payload, raw = json_answer(spec.handler(body, rid, org), rid)
    except _Gone:
        return
    except Exception as exc:  # never an allow: an answer that says it failed
        status, payload, raw = guard.failure(exc, rid)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
