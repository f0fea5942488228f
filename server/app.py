"""The AuthZEN app: routing and JSON. Decisions come from the engine; nothing here decides."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine import AuthzError
from engine import search as engine_search
from server.authzen import BadRequest, HttpError, decision_body, merged, parse_evaluation
from server.decision_log import DecisionLog
from server.jsonio import dumps, loads
from server.metrics import Metrics
from server.migration import migration_routes
from server.openapi import openapi
from server.state import State

MAX_BODY = 1 << 20  # 1 MiB
log = logging.getLogger("authz.server")
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Handler = Callable[[HttpRequest], Awaitable[Response]]


def _item_error(message: str) -> dict[str, Any]:
    return {"decision": False, "context": {"error": {"status": 400, "message": message}}}


def _json(status: int, body: Any, request_id: str) -> Response:
    return Response(
        dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"X-Request-ID": request_id},
    )


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def decode_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise HttpError(413, f"body: larger than {MAX_BODY} bytes")
    try:
        data = loads(raw)
    except ValueError as exc:
        raise BadRequest(f"body: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    return data


def create_app(
    state: State,
    metrics: Metrics,
    token: str | None = None,
    decision_log: DecisionLog | None = None,
) -> ASGIApp:
    expected = f"Bearer {token}".encode() if token is not None else None

    def check_token(given: bytes) -> None:
        if expected is not None and not hmac.compare_digest(given, expected):
            raise HttpError(401, "a valid `Authorization: Bearer` token is required")

    def failure(exc: Exception) -> tuple[int, dict[str, Any]]:
        status = exc.status if isinstance(exc, HttpError) else 400
        metrics.http_errors[status] += 1
        return status, _error_body(status, str(exc))

    def endpoint(fn: Callable[[HttpRequest, str], Awaitable[Any]], auth: bool = True) -> Handler:
        async def handle(request: HttpRequest) -> Response:
            rid = request.headers.get("x-request-id") or os.urandom(16).hex()
            try:
                if auth:
                    check_token(request.headers.get("authorization", "").encode("latin-1"))
                result = await fn(request, rid)
            except (HttpError, BadRequest, AuthzError) as exc:
                return _json(*failure(exc), rid)
            if isinstance(result, Response):
                result.headers["X-Request-ID"] = rid
                return result
            return _json(200, result, rid)

        return handle

    async def body_of(request: HttpRequest) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise HttpError(413, f"body: larger than {MAX_BODY} bytes")
        return decode_body(await request.body())

    def evaluate(body: dict[str, Any], rid: str, where: str = "") -> dict[str, Any]:
        started = time.perf_counter()
        request, context = parse_evaluation(body, where)
        engine = state.engine_for(context.get("org"))
        explain = context.get("explain") is True
        decision = engine.decide(request, probe=explain)
        if decision.invalid:
            raise BadRequest(f"{where + '.' if where else ''}{decision.errors[0]}")
        answer = decision_body(decision, explain)
        elapsed = time.perf_counter() - started
        metrics.decision(decision.allowed, answer["context"]["rules"], elapsed)
        if decision_log is not None:
            decision_log.write(rid, body, answer, decision.policy_version, elapsed * 1000)
        return answer

    def evaluations(body: dict[str, Any], rid: str) -> dict[str, Any]:
        items = body.get("evaluations")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options: must be an object")
        semantic = options.get("evaluations_semantic", "execute_all")
        if semantic not in SEMANTICS:
            raise BadRequest(f"options.evaluations_semantic: must be one of {', '.join(SEMANTICS)}")
        if items is None:  # no array: a single evaluation, answered as one
            return evaluate(body, rid)
        if not isinstance(items, list):
            raise BadRequest("evaluations: must be an array")
        started = time.perf_counter()
        out: list[dict[str, Any] | None] = [None] * len(items)
        groups: dict[tuple[int, bool], tuple[Any, list[tuple[int, Any, Any]]]] = {}
        for n, item in enumerate(items):
            try:
                merged_item = merged(body, item, n)
                wanted, context = parse_evaluation(merged_item, f"evaluations[{n}]")
                engine = state.engine_for(context.get("org"))
            except (BadRequest, AuthzError) as exc:
                out[n] = _item_error(str(exc))  # false, never a failed batch
                continue
            explain = context.get("explain") is True
            groups.setdefault((id(engine), explain), (engine, []))[1].append(
                (n, merged_item, wanted)
            )
        entries = []
        for (_, explain), (engine, members) in groups.items():
            # one backend call for the whole group: cheaper per decision than one call each
            decisions = engine.decide_many([m[2] for m in members], probe=explain)
            for (n, merged_item, _), decision in zip(members, decisions, strict=True):
                if decision.invalid:
                    out[n] = _item_error(f"evaluations[{n}].{decision.errors[0]}")
                    continue
                answer = decision_body(decision, explain)
                out[n] = answer
                entries.append((merged_item, answer, decision.policy_version))
        per_item = (time.perf_counter() - started) / max(len(items), 1)
        metrics.decisions_of(
            [(answer["decision"], answer["context"]["rules"]) for _, answer, _ in entries], per_item
        )
        if decision_log is not None and entries:
            decision_log.write_many(rid, entries, per_item * 1000)
        answers = [a for a in out if a is not None]
        if semantic != "execute_all":
            stop = semantic == "permit_on_first_permit"
            for n, answer in enumerate(answers):
                if answer["decision"] is stop:
                    answers = answers[: n + 1]
                    break
        return {"evaluations": answers}

    def page(body: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        spec = body.get("page") or {}
        if not isinstance(spec, dict):
            raise BadRequest("page: must be an object")
        limit = spec.get("limit", DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise BadRequest("page.limit: must be a non-negative integer")
        limit = min(limit, MAX_LIMIT)
        key = hashlib.sha256(
            json.dumps({k: v for k, v in body.items() if k != "page"}, sort_keys=True).encode()
        ).hexdigest()[:16]
        offset = 0
        if spec.get("token"):
            try:
                token = json.loads(base64.urlsafe_b64decode(str(spec["token"]).encode()))
                offset, same = int(token["o"]), token["k"] == key
            except (ValueError, KeyError, TypeError):
                raise BadRequest("page.token: not a token this server issued") from None
            if not same:
                raise BadRequest("page.token: the request changed since this token was issued")
        chunk = results[offset : offset + limit]
        end = offset + len(chunk)
        next_token = (
            ""
            if end >= len(results)
            else base64.urlsafe_b64encode(json.dumps({"o": end, "k": key}).encode()).decode()
        )
        return {
            "page": {"next_token": next_token, "count": len(chunk), "total": len(results)},
            "results": chunk,
        }

    def search_parts(body: dict[str, Any], need_id: str) -> tuple[Any, ...]:
        # reuse the evaluation parser: fill the searched-for id with a placeholder
        probe = json.loads(json.dumps(body))
        for part in ("subject", "resource"):
            if part == need_id and isinstance(probe.get(part), dict):
                probe[part].pop("id", None)
                if part == "subject":
                    probe[part]["id"] = "?"
        if need_id == "action":
            probe["action"] = {"name": "view"}
        request, context = parse_evaluation(probe)
        return request, context, state.engine_for(context.get("org"))

    async def search_resource(request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        req, _, engine = search_parts(body, "resource")
        ids = engine_search.resources(
            engine, req.subject, req.action, req.resource_type, req.channel, req.fields, req.context
        )
        return page(body, [{"type": req.resource_type, "id": i} for i in ids])

    async def search_subject(request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        req, _, engine = search_parts(body, "subject")
        ids = engine_search.subjects(
            engine,
            req.action,
            req.resource_type,
            req.resource_id,
            req.channel,
            req.fields,
            req.context,
        )
        return page(body, [{"type": "user", "id": i} for i in ids])

    async def search_action(request: HttpRequest, rid: str) -> dict[str, Any]:
        body = await body_of(request)
        req, _, engine = search_parts(body, "action")
        names = engine_search.actions(
            engine, req.subject, req.resource_type, req.resource_id, req.channel, req.context
        )
        return page(body, [{"name": n} for n in names])

    async def configuration(request: HttpRequest, rid: str) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "policy_decision_point": base,
            "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
            "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
            "search_subject_endpoint": f"{base}/access/v1/search/subject",
            "search_resource_endpoint": f"{base}/access/v1/search/resource",
            "search_action_endpoint": f"{base}/access/v1/search/action",
        }

    async def healthz(request: HttpRequest, rid: str) -> dict[str, Any]:
        return {"status": "ok"}

    async def readyz(request: HttpRequest, rid: str) -> Any:
        served = state.served
        problem = (
            "policies and org data are not loaded"
            if served is None
            else "the reload watcher has stalled"
            if state.stalled()
            else None
        )
        if problem is not None:
            raise HttpError(503, f"not ready: {problem}")
        assert served is not None
        try:  # the details name orgs and versions: only for a caller with the token
            check_token(request.headers.get("authorization", "").encode("latin-1"))
        except HttpError:
            return {"status": "ready"}
        return {
            "status": "ready",
            "policy_version": served.policies.version,
            "policy_source": served.source,
            "orgs": {i: v for i, v in sorted(served.org_versions.items())},
            "refused": dict(sorted(served.refused.items())),
            "last_reload_error": state.last_error,
        }

    async def metrics_text(request: HttpRequest, rid: str) -> Response:
        return Response(metrics.render(state.caches()), media_type="text/plain; version=0.0.4")

    async def openapi_doc(request: HttpRequest, rid: str) -> dict[str, Any]:
        return openapi()

    routes = [
        Route("/access/v1/search/subject", endpoint(search_subject), methods=["POST"]),
        Route("/access/v1/search/resource", endpoint(search_resource), methods=["POST"]),
        Route("/access/v1/search/action", endpoint(search_action), methods=["POST"]),
        Route(
            "/.well-known/authzen-configuration",
            endpoint(configuration, auth=False),
            methods=["GET"],
        ),
        Route("/healthz", endpoint(healthz, auth=False), methods=["GET"]),
        Route("/readyz", endpoint(readyz, auth=False), methods=["GET"]),
        Route("/metrics", endpoint(metrics_text), methods=["GET"]),
        Route("/openapi.json", endpoint(openapi_doc, auth=False), methods=["GET"]),
        *migration_routes(state, endpoint, body_of, token is not None, decision_log),
    ]
    rest = Starlette(routes=routes)
    hot: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
        "/access/v1/evaluation": evaluate,
        "/access/v1/evaluations": evaluations,
    }

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """The two routes a CRM calls before every finance action are answered straight from
        ASGI messages; Starlette's request, routing and response objects cost more than the
        JSON around a decision (README "The sidecar under load"). Everything else is Starlette.
        """
        answer = hot.get(scope["path"]) if scope["type"] == "http" else None
        if answer is None:
            await rest(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode("latin-1") or os.urandom(16).hex()
        try:
            if scope["method"] != "POST":
                raise HttpError(405, f"method: {scope['path']} takes POST")
            check_token(headers.get(b"authorization", b""))
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > MAX_BODY:
                raise HttpError(413, f"body: larger than {MAX_BODY} bytes")
            raw = await _read_body(receive)
            if raw is None:
                return  # the client left: nobody to answer
            status, body = 200, answer(decode_body(raw), rid)
        except (HttpError, BadRequest, AuthzError) as exc:
            status, body = failure(exc)
        except Exception as exc:  # never an allow: an answer that says it failed
            log.exception("evaluation failed")
            status, body = failure(HttpError(500, f"internal error: {type(exc).__name__}"))
        payload = dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", rid.encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None if the client disconnected; over MAX_BODY is a 413."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(413, f"body: larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
