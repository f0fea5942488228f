"""A client for the enforcement point: the CRM asks the suite-authz sidecar (AuthZEN 1.0).

Independent of the engine and the server (it needs only httpx2: `pip install
'suite-authz[client]'`). It fails closed: a timeout, a connection error, a 5xx or a body it
cannot read is a deny that carries the error, never an exception a caller might turn into an
allow by mistake (`raise_errors=True` raises AuthzUnavailable instead).

    with AuthzClient("http://127.0.0.1:8181/demo", token=TOKEN) as authz:
        decision = authz.check("asha", "delete", "estimate:est-1")
        if not decision:
            return forbidden(decision.reasons)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx

NEW_RECORD = "#new"  # resource id of a record not created yet (the sidecar's one extension)
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
RETRY_STATUS = frozenset({502, 503, 504})

Resource = str | tuple[str, str | None] | Mapping[str, Any]


class AuthzUnavailable(Exception):
    """Raised instead of a failed-closed deny, for a caller that opted in (raise_errors)."""


class AuthzRequestError(AuthzUnavailable):
    """The sidecar refused the request itself (HTTP 400, 401, 403, 404, 413, 415): with
    raise_errors, raised at once; without, a deny carrying it, never retried."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer. False in a boolean context unless allowed. `error` is set when the
    sidecar could not be asked or could not answer (then always a deny)."""

    allowed: bool
    context: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    request_id: str | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def reasons(self) -> list[str]:
        return list(self.context.get("reasons", ())) or ([self.error] if self.error else [])

    @property
    def acting_as(self) -> dict[str, str] | None:
        return self.context.get("acting_as")

    @property
    def redact_fields(self) -> list[str]:
        return list(self.context.get("redact_fields", ()))


def _entity_resource(resource: Resource) -> dict[str, Any]:
    if isinstance(resource, Mapping):
        return dict(resource)
    if isinstance(resource, tuple):
        kind, rid = resource
    else:
        kind, _, given = resource.partition(":")
        rid = given or None
    return {"type": kind, "id": rid or NEW_RECORD}


def evaluation(
    subject: str,
    action: str,
    resource: Resource,
    *,
    fields: Sequence[str] = (),
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One AuthZEN evaluation body. `resource`: "estimate:est-1", "estimate" (a new record),
    ("estimate", "est-1") or an AuthZEN resource object."""
    res = _entity_resource(resource)
    if fields:
        res.setdefault("properties", {})["fields"] = list(fields)
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": subject},
        "action": {"name": action},
        "resource": res,
    }
    if context:
        body["context"] = dict(context)
    return body


def _decision(item: Any, rid: str | None) -> Decision:
    if not isinstance(item, dict) or not isinstance(item.get("decision"), bool):
        return Decision(False, error="the sidecar's answer is not an AuthZEN decision")
    given = item.get("context")
    ctx: dict[str, Any] = given if isinstance(given, dict) else {}
    err = ctx.get("error") if isinstance(ctx.get("error"), dict) else None
    return Decision(
        item["decision"] is True,  # only a literal true allows
        ctx,
        str(err.get("message")) if err else None,
        rid,
    )


class _Base:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.05,
        raise_errors: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.raise_errors = raise_errors
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _failed(self, why: str, rid: str) -> Decision:
        if self.raise_errors:
            raise AuthzUnavailable(why)
        return Decision(False, error=f"authorization unavailable: {why}", request_id=rid)

    def _read(self, response: httpx.Response) -> Any:
        """The JSON of a 200, or _Unavailable saying why (retryable for 502, 503, 504)."""
        status = response.status_code
        if status == 200:
            try:
                return response.json()
            except ValueError:
                return _Unavailable("the answer is not JSON", retry=False)
        if 400 <= status < 500:
            try:
                message = str(response.json().get("message", ""))
            except (ValueError, AttributeError):
                message = response.text[:200]
            if self.raise_errors:
                raise AuthzRequestError(status, message)
            return _Unavailable(f"HTTP {status}: {message}", retry=False)
        return _Unavailable(f"HTTP {status}", retry=status in RETRY_STATUS)

    def _batch(
        self,
        items: Sequence[Mapping[str, Any]],
        semantic: str,
        defaults: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if semantic not in SEMANTICS:
            raise ValueError(f"semantic: one of {', '.join(SEMANTICS)}")
        body = dict(defaults or {})
        body["evaluations"] = [dict(i) for i in items]
        body["options"] = {"evaluations_semantic": semantic}
        return body

    def _answer(self, data: Any, rid: str) -> Decision:
        """What came back for one evaluation, as a Decision (closed unless a literal true)."""
        if isinstance(data, _Unavailable):
            return self._failed(data.why, rid)
        if _broken(data):
            return self._failed("the answer is not an AuthZEN decision", rid)
        return _decision(data, rid)

    def _answers(self, data: Any, rid: str, asked: int) -> list[Decision]:
        if isinstance(data, _Unavailable):
            return [self._failed(data.why, rid)] * asked
        items = data.get("evaluations") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) > asked:
            return [self._failed("the answer is not an AuthZEN batch", rid)] * asked
        return [_decision(item, rid) for item in items]

    def _page(self, data: Any, rid: str) -> tuple[list[dict[str, Any]], str | None]:
        """A search page's results and the token of the next one (None: the last page, or
        a failure, which ends the results, or raises when asked to)."""
        if isinstance(data, _Unavailable):
            self._failed(data.why, rid)
            return [], None
        return list(data.get("results", [])), (data.get("page") or {}).get("next_token") or None

    @staticmethod
    def _paged(body: dict[str, Any], token: str | None, limit: int) -> dict[str, Any]:
        page: dict[str, Any] = {"limit": limit}
        if token:
            page["token"] = token
        return {**body, "page": page}

    @staticmethod
    def _subjects_query(
        action: str, resource: Resource, context: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        body = evaluation("?", action, resource, context=context)
        body["subject"] = {"type": "user"}
        return body

    @staticmethod
    def _resources_query(
        subject: str, action: str, kind: str, context: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        body = evaluation(subject, action, kind, context=context)
        body["resource"] = {"type": kind}
        return body

    @staticmethod
    def _actions_query(
        subject: str, resource: Resource, context: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        body = evaluation(subject, "view", resource, context=context)
        del body["action"]
        return body


class AuthzClient(_Base):
    """Synchronous, one connection pool, thread-safe as httpx's Client is."""

    def __init__(self, base_url: str, **options: Any) -> None:
        transport = options.pop("transport", None)
        super().__init__(base_url, **options)
        self._http = httpx.Client(timeout=self.timeout, transport=transport)

    def __enter__(self) -> AuthzClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: Any, rid: str) -> Any:
        """POST with bounded retries (every AuthZEN call only reads: safe to repeat)."""
        why = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._http.post(
                    self.base_url + path, json=body, headers={**self.headers, "X-Request-ID": rid}
                )
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
                continue
            data = self._read(response)
            if not isinstance(data, _Unavailable) or not data.retry:
                return data
            why = data.why
        return _Unavailable(why)

    def check(
        self,
        subject: str,
        action: str,
        resource: Resource,
        *,
        fields: Sequence[str] = (),
        context: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Decision:
        rid = request_id or os.urandom(8).hex()
        body = evaluation(subject, action, resource, fields=fields, context=context)
        return self._answer(self._post("/access/v1/evaluation", body, rid), rid)

    def check_many(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        semantic: str = "execute_all",
        defaults: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> list[Decision]:
        """Items from `evaluation(...)` (or partial ones completed by `defaults`). The answers
        are in the items' order; the short-circuiting semantics answer fewer."""
        rid = request_id or os.urandom(8).hex()
        data = self._post("/access/v1/evaluations", self._batch(items, semantic, defaults), rid)
        return self._answers(data, rid, len(items))

    def _search(self, kind: str, body: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            rid = os.urandom(8).hex()
            data = self._post(f"/access/v1/search/{kind}", self._paged(body, token, limit), rid)
            results, token = self._page(data, rid)
            yield from results
            if token is None:
                return

    def search_subjects(
        self, action: str, resource: Resource, *, context: Mapping[str, Any] | None = None,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Users allowed `action` on `resource`, page after page (a failure ends them)."""
        return self._search("subject", self._subjects_query(action, resource, context), limit)

    def search_resources(
        self, subject: str, action: str, kind: str, *,
        context: Mapping[str, Any] | None = None, limit: int = 100,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        body = self._resources_query(subject, action, kind, context)
        return self._search("resource", body, limit)

    def search_actions(
        self, subject: str, resource: Resource, *,
        context: Mapping[str, Any] | None = None, limit: int = 100,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        return self._search("action", self._actions_query(subject, resource, context), limit)


class AsyncAuthzClient(_Base):
    """The same over asyncio, one connection pool."""

    def __init__(self, base_url: str, **options: Any) -> None:
        transport = options.pop("transport", None)
        super().__init__(base_url, **options)
        self._http = httpx.AsyncClient(timeout=self.timeout, transport=transport)

    async def __aenter__(self) -> AsyncAuthzClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: Any, rid: str) -> Any:
        why = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.post(
                    self.base_url + path, json=body, headers={**self.headers, "X-Request-ID": rid}
                )
            except httpx.TransportError as exc:
                why = f"{type(exc).__name__}: {exc}"
                continue
            data = self._read(response)
            if not isinstance(data, _Unavailable) or not data.retry:
                return data
            why = data.why
        return _Unavailable(why)

    async def check(
        self,
        subject: str,
        action: str,
        resource: Resource,
        *,
        fields: Sequence[str] = (),
        context: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> Decision:
        rid = request_id or os.urandom(8).hex()
        body = evaluation(subject, action, resource, fields=fields, context=context)
        return self._answer(await self._post("/access/v1/evaluation", body, rid), rid)

    async def check_many(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        semantic: str = "execute_all",
        defaults: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> list[Decision]:
        rid = request_id or os.urandom(8).hex()
        body = self._batch(items, semantic, defaults)
        return self._answers(await self._post("/access/v1/evaluations", body, rid), rid, len(items))

    async def _search(
        self, kind: str, body: dict[str, Any], limit: int
    ) -> AsyncIterator[dict[str, Any]]:
        token: str | None = None
        while True:
            rid = os.urandom(8).hex()
            page = self._paged(body, token, limit)
            results, token = self._page(
                await self._post(f"/access/v1/search/{kind}", page, rid), rid
            )
            for item in results:
                yield item
            if token is None:
                return

    def search_subjects(
        self, action: str, resource: Resource, *, context: Mapping[str, Any] | None = None,
        limit: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        return self._search("subject", self._subjects_query(action, resource, context), limit)

    def search_resources(
        self, subject: str, action: str, kind: str, *,
        context: Mapping[str, Any] | None = None, limit: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        body = self._resources_query(subject, action, kind, context)
        return self._search("resource", body, limit)

    def search_actions(
        self, subject: str, resource: Resource, *,
        context: Mapping[str, Any] | None = None, limit: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
        return self._search("action", self._actions_query(subject, resource, context), limit)


@dataclass(frozen=True, slots=True)
class _Unavailable:
    why: str
    retry: bool = True


def _broken(data: Any) -> bool:
    """A 200 whose body is not a decision: fail closed as for a 5xx."""
    return not isinstance(data, dict) or not isinstance(data.get("decision"), bool)
