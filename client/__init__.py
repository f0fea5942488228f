"""A client for the enforcement point: the CRM asks the suite-authz sidecar (AuthZEN 1.0).

Independent of the engine and the server (it needs only httpx: `pip install suite-authz-client`
or `pip install 'suite-authz[client]'`). It fails closed: a timeout, a connection error, a 5xx
or an answer it cannot read strictly (duplicate keys, a decision that is not a boolean, a
content type other than `application/json`) is a deny that carries the error, never an
exception a caller might turn into an allow by mistake (`raise_errors=True` raises
AuthzUnavailable instead). A batch is the one exception: an answer that is not one boolean
decision per item raises AuthzProtocolError, since no list of decisions can be trusted then;
`all_allowed` and `is_allowed` answer False instead. `timeout` is one deadline for the whole
call, retries and a slow body included. A plan (`plan_resources`: which records of a type a
user may act on, as a condition for a list view's query, `plan_sql.where`) raises on every
failure, a 422 as Unplannable: no failed-closed plan could be told from "no records".

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

import httpx

from . import _wire

NEW_RECORD = "#new"  # resource id of a record not created yet (the sidecar's one extension)
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
RETRY_STATUS = frozenset({502, 503, 504})
PLAN_PATH = "/access/v1/plan/resource"

Resource = str | tuple[str, str | None] | Mapping[str, Any]


class AuthzUnavailable(Exception):
    """Raised instead of a failed-closed deny, for a caller that opted in (raise_errors)."""


class AuthzProtocolError(AuthzUnavailable):
    """The sidecar's answer broke the protocol (not strict JSON, not `application/json`, not
    one boolean decision per batch item, a search page of the wrong shape): the message names
    what. Always raised by `check_many`; elsewhere only with raise_errors."""


class AuthzRequestError(AuthzUnavailable):
    """The sidecar refused the request itself (HTTP 400, 401, 403, 404, 413, 415): with
    raise_errors, raised at once; without, a deny carrying it, never retried."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Unplannable(AuthzRequestError):
    """HTTP 422 from `plan_resources`: a policy reads a record in a way the sidecar cannot
    turn into a condition. Never read as an empty or an allow-all plan: list the records with
    `search_resources` instead (each one checked by a decision)."""


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
        given = self.context.get("acting_as")
        return dict(given) if isinstance(given, dict) else None

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


def _decision(verdict: bool, ctx: dict[str, Any], rid: str | None) -> Decision:
    err = ctx.get("error") if isinstance(ctx.get("error"), dict) else None
    return Decision(
        verdict is True,  # only a literal true allows
        ctx,
        str(err.get("message")) if err else None,
        rid,
    )


@dataclass(frozen=True, slots=True)
class _Unavailable:
    why: str
    retry: bool = True
    protocol: bool = False  # the answer broke the protocol (AuthzProtocolError), not the wire
    status: int | None = None  # the HTTP status of a refusal (4xx)


class _Retries:
    """One call's retries, all within one deadline, whichever client makes them: every
    AuthZEN call only reads, so a connection error or a 502, 503 or 504 is safe to repeat,
    after a doubling backoff, while the deadline leaves time for it. The clients do the
    sleeping and the attempts; this says when to stop and what the call answers then."""

    def __init__(self, client: _Base) -> None:
        self._client = client
        self.deadline = time.monotonic() + client.timeout
        self._why = "no attempt made"
        self._done = False
        self.result: Any = None

    def pauses(self) -> Iterator[float | None]:
        """The backoff before each attempt (None before the first), until one is decided."""
        for attempt in range(self._client.retries + 1):
            if attempt:
                pause = self._client.backoff * 2 ** (attempt - 1)
                if time.monotonic() + pause >= self.deadline:
                    self._decide(self._client._late(self._why))
                    return
                yield pause
            else:
                yield None
            if self._done:
                return
        self._decide(_Unavailable(self._why))

    def answered(self, data: Any) -> None:
        if isinstance(data, _Unavailable) and data.retry:
            self._why = data.why
        else:
            self._decide(data)

    def raised(self, exc: Exception) -> None:
        """An attempt's exception: _wire.Late or a timeout (the answer was still arriving when
        the deadline passed) ends the call; an httpx.RequestError is retried in time."""
        if not isinstance(exc, httpx.RequestError):
            self._decide(self._client._late("the answer was still arriving"))
            return
        self._why = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= self.deadline:
            self._decide(self._client._late(self._why))

    def _decide(self, result: Any) -> None:
        self._done = True
        self.result = result


class _Pages:
    """A search's pages: a request for each (`limit` results at the most, the next one's token
    from the page before) until a page has no next token or fails, which ends the results
    (or raises, with raise_errors). Each page is one call with its own deadline."""

    def __init__(self, client: _Base, kind: str, body: dict[str, Any], limit: int) -> None:
        self._client = client
        self._kind = kind
        self._body = body
        self._limit = limit
        self._token: str | None = None
        self.path = f"/access/v1/search/{kind}"

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The request id and body of each page, the next one asked for only after the
        results of this one are read."""
        while True:
            page: dict[str, Any] = {"limit": self._limit}
            if self._token:
                page["token"] = self._token
            yield os.urandom(8).hex(), {**self._body, "page": page}
            if self._token is None:
                return

    def results(self, data: Any, rid: str) -> list[dict[str, Any]]:
        """A page's results, checked whole before any is given out."""
        self._token = None
        if isinstance(data, _Unavailable):
            self._client._failed(data, rid)
            return []
        try:
            results, self._token = _wire.page(data, self._kind)
        except _wire.Refused as exc:
            self._client._failed(_Unavailable(str(exc), retry=False, protocol=True), rid)
            return []
        return results


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
        if not timeout > 0:
            raise ValueError(f"timeout: a deadline in seconds above 0, not `{timeout}`")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.raise_errors = raise_errors
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _failed(self, failure: _Unavailable, rid: str) -> Decision:
        if self.raise_errors:
            kind = AuthzProtocolError if failure.protocol else AuthzUnavailable
            raise kind(failure.why)
        return Decision(False, error=f"authorization unavailable: {failure.why}", request_id=rid)

    def _late(self, why: str) -> _Unavailable:
        return _Unavailable(f"no answer within the {self.timeout:g} s deadline ({why})")

    def _read(self, status: int, content_type: str | None, raw: bytes) -> Any:
        """The JSON of a 200, or _Unavailable saying why (retryable for 502, 503, 504)."""
        if status == 200:
            try:
                _wire.check_media_type(content_type)
                return _wire.parse(raw)
            except _wire.Refused as exc:
                return _Unavailable(str(exc), retry=False, protocol=True)
        if 400 <= status < 500:
            try:
                message = str(_wire.parse(raw).get("message", ""))
            except (_wire.Refused, AttributeError):
                message = raw[:200].decode("utf-8", "replace")
            if self.raise_errors:
                raise (Unplannable if status == 422 else AuthzRequestError)(status, message)
            return _Unavailable(f"HTTP {status}: {message}", retry=False, status=status)
        return _Unavailable(f"HTTP {status}", retry=status in RETRY_STATUS)

    def _batch(
        self,
        items: Sequence[Mapping[str, Any]],
        semantic: str,
        defaults: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if semantic not in SEMANTICS:
            raise ValueError(f"semantic: one of {', '.join(SEMANTICS)}")
        if not items:
            # AuthZEN 7.1 reads an empty `evaluations` as one evaluation of the defaults: a
            # single allow would then answer a batch of nothing
            raise ValueError("items: at least one evaluation")
        body = dict(defaults or {})
        body["evaluations"] = [dict(i) for i in items]
        body["options"] = {"evaluations_semantic": semantic}
        return body

    def _answer(self, data: Any, rid: str) -> Decision:
        """What came back for one evaluation, as a Decision (closed unless a literal true)."""
        if isinstance(data, _Unavailable):
            return self._failed(data, rid)
        try:
            verdict, ctx = _wire.decision(data, "the answer")
        except _wire.Refused as exc:
            return self._failed(_Unavailable(str(exc), retry=False, protocol=True), rid)
        return _decision(verdict, ctx, rid)

    def _answers(self, data: Any, rid: str, asked: int, semantic: str) -> list[Decision]:
        if isinstance(data, _Unavailable) and not data.protocol:
            return [self._failed(data, rid)] * asked
        if isinstance(data, _Unavailable):
            raise AuthzProtocolError(data.why)
        try:
            answers = _wire.batch(data, asked, semantic)
        except _wire.Refused as exc:
            raise AuthzProtocolError(str(exc)) from None
        return [_decision(verdict, ctx, rid) for verdict, ctx in answers]

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

    def _plan(self, data: Any, subject: str, action: str, kind: str) -> dict[str, Any]:
        """A plan checked whole, or raised: a plan has no failed-closed reading a caller could
        not mistake (an empty list view hides an outage), so every failure is an exception."""
        if isinstance(data, _Unavailable):
            if data.status == 422:
                raise Unplannable(422, data.why.removeprefix("HTTP 422: "))
            if data.status is not None:
                raise AuthzRequestError(data.status, data.why.removeprefix(f"HTTP {data.status}: "))
            raise (AuthzProtocolError if data.protocol else AuthzUnavailable)(data.why)
        try:
            return _wire.plan(data, subject, action, kind)
        except _wire.Refused as exc:
            raise AuthzProtocolError(str(exc)) from None

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
        """POST under _Retries. Each attempt gets only the time left, and the body is read
        against the deadline, so neither a retry nor a trickled body can stretch the call."""
        call = _Retries(self)
        for pause in call.pauses():
            if pause is not None:
                time.sleep(pause)
            try:
                call.answered(self._attempt(path, body, rid, call.deadline))
            except (_wire.Late, httpx.RequestError) as exc:
                call.raised(exc)
        return call.result

    def _attempt(self, path: str, body: Any, rid: str, deadline: float) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _wire.Late
        headers = {**self.headers, "X-Request-ID": rid}
        url = self.base_url + path
        with self._http.stream("POST", url, json=body, headers=headers, timeout=left) as answer:
            received = _wire.Body(deadline, time.monotonic)
            try:
                for chunk in answer.iter_bytes():
                    received.add(chunk)
            except _wire.Refused as exc:
                return _Unavailable(str(exc), retry=False, protocol=True)
        return self._read(answer.status_code, answer.headers.get("content-type"), received.read())

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

    def is_allowed(
        self,
        subject: str,
        action: str,
        resource: Resource,
        *,
        fields: Sequence[str] = (),
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        """True for an allow only: a deny, an error or a raised error is False."""
        try:
            return self.check(subject, action, resource, fields=fields, context=context).allowed
        except AuthzUnavailable:
            return False

    def check_many(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        semantic: str = "execute_all",
        defaults: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> list[Decision]:
        """Items from `evaluation(...)` (or partial ones completed by `defaults`). The answers
        are in the items' order, one per item; the short-circuiting semantics answer fewer,
        ending at the decision that stopped them. An answer that is not that raises
        AuthzProtocolError; a failure to get one is a deny per item (or raises with
        raise_errors)."""
        rid = request_id or os.urandom(8).hex()
        data = self._post("/access/v1/evaluations", self._batch(items, semantic, defaults), rid)
        return self._answers(data, rid, len(items), semantic)

    def all_allowed(
        self, items: Sequence[Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None
    ) -> bool:
        """True when every item is allowed; any deny, error or broken answer is False."""
        if not items:
            return False  # nothing asked is nothing allowed
        try:
            decisions = self.check_many(items, semantic="deny_on_first_deny", defaults=defaults)
        except AuthzUnavailable:
            return False
        return len(decisions) == len(items) and all(d.allowed is True for d in decisions)

    def _search(self, kind: str, body: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
        pages = _Pages(self, kind, body, limit)
        for rid, page in pages:
            yield from pages.results(self._post(pages.path, page, rid), rid)

    def search_subjects(
        self, action: str, resource: Resource, *, context: Mapping[str, Any] | None = None,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Users allowed `action` on `resource`, page after page (a failure ends them); each
        page is one call with its own deadline."""
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

    def plan_resources(
        self, subject: str, action: str, kind: str, *,
        context: Mapping[str, Any] | None = None, request_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Which records of `kind` `subject` may act on with `action`, as a condition over a
        record's own attributes (`suite_authz.client.plan_sql.where` makes it a WHERE clause).
        Raises on every failure, whatever raise_errors says: Unplannable (422: ask per record),
        AuthzRequestError (another 4xx), AuthzProtocolError (not a plan for what was asked,
        read strictly), AuthzUnavailable (no answer within the deadline)."""
        rid = request_id or os.urandom(8).hex()
        body = self._resources_query(subject, action, kind, context)
        return self._plan(self._post(PLAN_PATH, body, rid), subject, action, kind)


class AsyncAuthzClient(_Base):
    """The same over asyncio, one connection pool. Here the deadline also bounds a trickle of
    headers (asyncio.timeout cancels the whole attempt); see docs/api.md for the sync one."""

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
        call = _Retries(self)
        for pause in call.pauses():
            if pause is not None:
                await asyncio.sleep(pause)
            try:
                async with asyncio.timeout(call.deadline - time.monotonic()):
                    call.answered(await self._attempt(path, body, rid, call.deadline))
            except (_wire.Late, TimeoutError, httpx.RequestError) as exc:
                call.raised(exc)
        return call.result

    async def _attempt(self, path: str, body: Any, rid: str, deadline: float) -> Any:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _wire.Late
        headers = {**self.headers, "X-Request-ID": rid}
        url = self.base_url + path
        stream = self._http.stream("POST", url, json=body, headers=headers, timeout=left)
        async with stream as answer:
            received = _wire.Body(deadline, time.monotonic)
            try:
                async for chunk in answer.aiter_bytes():
                    received.add(chunk)
            except _wire.Refused as exc:
                return _Unavailable(str(exc), retry=False, protocol=True)
        return self._read(answer.status_code, answer.headers.get("content-type"), received.read())

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

    async def is_allowed(
        self,
        subject: str,
        action: str,
        resource: Resource,
        *,
        fields: Sequence[str] = (),
        context: Mapping[str, Any] | None = None,
    ) -> bool:
        try:
            decision = await self.check(subject, action, resource, fields=fields, context=context)
        except AuthzUnavailable:
            return False
        return decision.allowed

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
        data = await self._post("/access/v1/evaluations", body, rid)
        return self._answers(data, rid, len(items), semantic)

    async def all_allowed(
        self, items: Sequence[Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None
    ) -> bool:
        if not items:
            return False
        try:
            decisions = await self.check_many(
                items, semantic="deny_on_first_deny", defaults=defaults
            )
        except AuthzUnavailable:
            return False
        return len(decisions) == len(items) and all(d.allowed is True for d in decisions)

    async def _search(
        self, kind: str, body: dict[str, Any], limit: int
    ) -> AsyncIterator[dict[str, Any]]:
        pages = _Pages(self, kind, body, limit)
        for rid, page in pages:
            for result in pages.results(await self._post(pages.path, page, rid), rid):
                yield result

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

    async def plan_resources(
        self, subject: str, action: str, kind: str, *,
        context: Mapping[str, Any] | None = None, request_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        rid = request_id or os.urandom(8).hex()
        body = self._resources_query(subject, action, kind, context)
        return self._plan(await self._post(PLAN_PATH, body, rid), subject, action, kind)
