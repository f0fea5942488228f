"""Page tokens for search: where the next page starts, signed so that nobody can forge one.

A token carries the cursor (the next candidate to ask about), a hash of the request it pages
through and the versions it was issued under, with an HMAC under the deployment's key (kept in
the store, so every server over one store accepts the others' tokens). A forged or edited
token, a token for another request, or one issued before the policy set or org changed is a
400 that says so, never a 500 or a page that never ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from pydantic import ValidationError

from suite_authz.server.authzen import BadRequest
from suite_authz.server.wire import Page, problem

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


PAGE_KEYS = ("token", "limit", "properties")


def request_key(body: dict[str, Any]) -> str:
    """What must stay the same from page to page: everything but the token (the limit
    included, AuthZEN 8.2)."""
    given = body.get("page")
    page: dict[str, Any] = given if isinstance(given, dict) else {}
    same = {k: v for k, v in body.items() if k != "page"}
    same["page"] = {k: v for k, v in page.items() if k != "token"}
    canonical = json.dumps(same, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def page_spec(body: dict[str, Any]) -> tuple[int, Any]:
    """The page's limit and its token (None for the first page). Unknown page keys are
    refused: a request sending `page.next_token` back would otherwise get page one for ever."""
    try:
        page = Page.model_validate(body.get("page") or {})
    except ValidationError as exc:
        message = problem(exc, "page")
        if ".limit" in message:
            message = f"page.limit: must be a whole number from 1 to {MAX_LIMIT}"
        raise BadRequest(message + _HOW if ": unknown" in message else message) from None
    if page.properties:
        raise BadRequest("page.properties: this PDP declares no paging properties")
    return page.limit, page.token or None


_HOW = f" (a page takes {', '.join(PAGE_KEYS)}; the next page is asked for with page.token)"


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, key: str, cursor: int, version: str) -> str:
        payload = json.dumps({"k": key, "c": cursor, "v": version}, separators=(",", ":"))
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{self._mac(payload.encode())}"

    def read(self, token: object, key: str, version: str) -> int:
        """The cursor a token carries; BadRequest naming what is wrong with it."""
        if not isinstance(token, str) or len(token) > 512 or token.count(".") != 1:
            raise BadRequest("page.token: not a token this server issued")
        encoded, mac = token.split(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raise BadRequest("page.token: not a token this server issued") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise BadRequest("page.token: not a token this server issued")
        data = json.loads(payload)
        if data["k"] != key:
            raise BadRequest("page.token: the request changed since this token was issued")
        if data["v"] != version:
            raise BadRequest(
                "page.token: the policy set or org changed since this token was issued; "
                "start the search again"
            )
        return int(data["c"])
