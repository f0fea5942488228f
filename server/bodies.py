"""Bytes in and out of HTTP, with bounds: bodies stop being read at MAX_BODY, request ids are
taken only when short and printable, every answer is JSON with its id, its headers built here
once for both pipelines (so that they answer byte for byte alike). A body that trickles in is
cut off by the connection's deadline (server/connections.py), not here. JSON is read with the
engine's strict reader (duplicate keys and deep nesting refused) and written with its one
encoder, `json_bytes` (orjson: the standard library's costs as much as the rest of the HTTP
handling on the hot path, bench/bench_serve.py)."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request as HttpRequest
from starlette.responses import Response

from suite_authz.engine.core import strict_loads
from suite_authz.engine.serving import json_bytes
from suite_authz.server.authzen import BadRequest, HttpError

MAX_BODY = 1 << 20  # 1 MiB
# AuthZEN 10.1.3: the PEP's id comes back as it was sent (an arbitrary string): any printable
# ASCII up to 256 characters; past that, or with a control character, a new one is made.
_REQUEST_ID = re.compile(rb"[\x20-\x7e]{1,256}")
# A made id: this process's random prefix and a counter, unique without a system call each.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def request_id(given: bytes | None) -> str:
    """The caller's X-Request-ID if it is printable and at most 256 characters, else a new
    one: never echoed back with control characters (the log writes it JSON-escaped)."""
    if given and _REQUEST_ID.fullmatch(given):
        return given.decode("ascii")
    return f"{_PREFIX}{next(_COUNTER):016x}"


def too_large() -> HttpError:
    return HttpError(413, f"body: larger than {MAX_BODY} bytes")


def check_length(header: bytes | str | None) -> None:
    if header is None:
        return
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    if text.isdigit() and int(text) > MAX_BODY:
        raise too_large()


async def bounded(chunks: AsyncIterator[bytes]) -> bytes:
    """The whole body; 413 as soon as it passes MAX_BODY (nothing more is read)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large()
        parts.append(chunk)
    return b"".join(parts)


def decode_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise too_large()
    try:
        data = strict_loads(raw)
    except ValueError as exc:
        raise BadRequest(f"body: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    return data


def check_json(content_type: bytes | str | None) -> None:
    """AuthZEN 10.1: requests MUST carry `Content-Type: application/json` (parameters such as
    a charset aside)."""
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    media = (text or "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise HttpError(
            415, f"Content-Type: requests take application/json, got `{media or 'none'}`"
        )


async def read_json(
    content_type: bytes | str | None, length: bytes | str | None, chunks: AsyncIterator[bytes]
) -> dict[str, Any]:
    """A request's JSON object, the same checks in the same order on both pipelines: media
    type, declared length, then the body as it comes, cut off past MAX_BODY."""
    check_json(content_type)
    check_length(length)
    return decode_body(await bounded(chunks))


async def body_of(request: HttpRequest) -> dict[str, Any]:
    headers = request.headers
    return await read_json(
        headers.get("content-type"), headers.get("content-length"), request.stream()
    )


RawHeaders = list[tuple[bytes, bytes]]


def json_answer(
    body: Any, rid: str, extra: dict[str, str] | None = None
) -> tuple[bytes, RawHeaders]:
    """An answer's bytes and headers, in ASGI's form: the fast path sends them as they are,
    Starlette's routes in a Response that keeps them (json_response)."""
    payload = json_bytes(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", rid.encode("ascii")),
    ]
    if extra:
        headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
    return payload, headers


def json_response(
    status: int, body: Any, rid: str, headers: dict[str, str] | None = None
) -> Response:
    return raw_response(status, *json_answer(body, rid, headers))


def raw_response(status: int, payload: bytes, headers: RawHeaders) -> Response:
    """A Starlette response sending exactly these headers (its own would add and order
    them otherwise)."""
    response = Response(payload, status_code=status)
    response.raw_headers = headers
    return response
