"""One JSON line per decision, written with a single write(2) on an O_APPEND descriptor before
the answer leaves: once a client has its answer, the line is in the kernel, and a kill -9 of
the server cannot lose it.

Masking rule: in the logged request, the values of `sender` and `acting_as` (addresses and
identities a caller claimed), of any key whose name contains `token`, `secret`, `password`,
`email`, `authorization`, `cookie`, `bearer`, `credential` or `api_key`, and any string that
looks like a credential wherever it is (`Bearer ...`, `Basic ...`, a JWT), are replaced by
`sha256:` and 16 hex digits of an HMAC-SHA256 under the deployment's key: equal values stay
comparable within a deployment, and without the key a dictionary of likely names (`asha`,
`olivia@...`) cannot be hashed to match them, as a plain hash could. A caller pasting its
`Authorization` header into a body is a mistake the log must not keep.

A search page that found nothing has no decision to log: it gets one line of its own (with
`search`, and `decision` null), so that every answered request is in the log.

A write that fails raises (the caller answers nothing unlogged) and marks the log unhealthy
until a write succeeds. The file is reopened on `reopen()` (SIGHUP) and, checked at most once
a second, when it was removed or renamed away (logrotate's way), so lines never go on into a
file nobody reads.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import hmac
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from suite_authz.engine.core.decision import Decision
from suite_authz.engine.core.errors import AuthzError
from suite_authz.engine.core.reading import file_kind
from suite_authz.engine.core.request import NEW_RECORD_ID, Request

MASKED_KEYS = ("sender", "acting_as")
MASKED_PARTS = (
    "token", "secret", "password", "email", "authorization", "cookie", "bearer", "credential",
    "api_key", "apikey",
)  # fmt: skip
# an HTTP credential (RFC 7235: a scheme, spaces, the credentials) or a JWT's first two parts
_CREDENTIAL = re.compile(
    r"^\s*(?:bearer|basic|digest)\s+[\w.~+/=-]+\s*$|bearer\s+[\w~+/-]+[.=]|eyJ[\w-]+\.[\w-]+",
    re.IGNORECASE,
)


def mask(value: Any, key: bytes) -> Any:
    """The value with sensitive values hashed under `key`. What holds nothing to mask is
    returned as it is, not copied: the result is only serialised, and most requests hold
    nothing to mask. Callers parse with a depth limit (engine/core/reading.py), so the recursion is
    bounded."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            new = (
                _hashed(v, key)
                if _sensitive(k)
                else mask(v, key)
                if isinstance(v, dict | list | str)
                else v
            )
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [mask(v, key) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, str) and _credential(value):
        return _hashed(value, key)
    return value


def _credential(value: str) -> bool:
    """`_CREDENTIAL.search(value)`, sooner: every string it matches holds `bearer`, `basic`,
    `digest` or `eyJ` in some case, and in ASCII, IGNORECASE folds exactly as lower() does
    (beyond it, the regex takes U+017F for an `s`: asked as it is). Most strings a request
    holds are ids and names without these words: 0.3 µs each instead of the regex's 1.1."""
    if value.isascii():
        lowered = value.lower()
        if not (
            "bearer" in lowered or "basic" in lowered or "digest" in lowered or "eyj" in lowered
        ):
            return False
    return _CREDENTIAL.search(value) is not None


@functools.lru_cache(maxsize=4096)
def _sensitive(key: str) -> bool:
    return key in MASKED_KEYS or any(part in key.lower() for part in MASKED_PARTS)


def _hashed(value: Any, key: bytes) -> str:
    data = json.dumps(value, sort_keys=True, default=str).encode()
    return "sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()[:16]


# Where a record id goes in a search page's line (write_results): no id holds a NUL, which
# JSON writes escaped, so the marker's JSON is found in a line only where the marker is.
_MARKER = "\x00record id\x00"
_MARKER_JSON = b'"\\u0000record id\\u0000"'


def json_bytes(value: Any) -> bytes:
    """Compact JSON; what orjson cannot encode (an integer beyond 64 bits) goes through the
    standard library, so no answer or log line is ever lost to the encoder."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def as_evaluation(request: Request) -> dict[str, Any]:
    """The engine's Request in the shape of an AuthZEN evaluation: how the log records
    decisions taken on the server's own behalf (a migration's, a search's), like those it is
    asked for."""
    resource: dict[str, Any] = {
        "type": request.resource_type,
        "id": NEW_RECORD_ID if request.resource_id is None else request.resource_id,
    }
    if request.fields:
        resource["properties"] = {"fields": list(request.fields)}
    return {
        "subject": {"type": "user", "id": request.subject},
        "action": {"name": request.action},
        "resource": resource,
        "context": {"channel": request.channel, **request.context},
    }


class DecisionLog:
    def __init__(self, path: Path, key: bytes) -> None:
        """`key`: the deployment's masking key (OrgStore.secret), never written to the log."""
        self.path = path
        self.key = key
        self.healthy = True
        self.failures = 0
        self._lock = threading.Lock()
        self._reopen = False
        self._checked = time.monotonic()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = self._open()
        except OSError as exc:  # bad input, named: a server must not start without its log
            raise AuthzError(
                f"{path}: cannot open the decision log: {exc.strerror or exc}"
            ) from None

    def _open(self) -> int:
        """The log file, appended to. A regular file only: opening a FIFO for writing waits for
        a reader (it hung `authz serve` at start), and a device or socket is no log that
        rotation (its inode) or `decision_log_failures` can reason about. O_NONBLOCK so that a
        FIFO is refused, never waited on; then the kind is read off the open descriptor."""
        with contextlib.suppress(FileNotFoundError):  # made below
            self._refuse_unless_regular(os.stat(self.path).st_mode)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o640)
        try:
            self._refuse_unless_regular(os.fstat(fd).st_mode)  # swapped in since the stat
        except OSError:
            os.close(fd)
            raise
        os.set_blocking(fd, True)  # a regular file's writes block anyway: as it was
        return fd

    def _refuse_unless_regular(self, mode: int) -> None:
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file ({file_kind(mode)})", str(self.path))

    def reopen(self) -> None:
        """Reopen before the next write (SIGHUP; safe from a signal handler)."""
        self._reopen = True

    def _due(self) -> bool:
        """True at most once a second: a stat(2) per line would cost more than the line."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return False
        self._checked = now
        return True

    def _moved(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except OSError:
            return True  # removed: start a new file

    def write(
        self,
        request_id: str | None,
        request: Any,
        decision: dict[str, Any],
        version: str,
        latency_ms: float,
    ) -> None:
        self._append(_line(self.key, request_id, request, decision, version, latency_ms))

    def write_many(
        self,
        request_id: str | None,
        entries: list[tuple[Any, dict[str, Any], str]],
        latency_ms: float,
    ) -> None:
        """A batch's lines in one write(2), before the batch is answered."""
        self._append(
            b"".join(_line(self.key, request_id, r, d, v, latency_ms) for r, d, v in entries)
        )

    def write_results(
        self,
        request_id: str | None,
        template: dict[str, Any],
        results: list[tuple[str, dict[str, Any]]],
        version: str,
        latency_ms: float,
    ) -> None:
        """A record search page's lines in one write(2): for each (record id, answer), the
        line `write_many` writes for `template` (an evaluation) with that record id. Built
        from pieces: the line around the record id is serialised once per distinct answer
        and each id is masked and spliced in, as a page of 1,000 results would otherwise
        build, mask and serialise 1,000 nearly equal requests."""
        now = time.time()
        pieces: dict[int, tuple[bytes, bytes] | None] = {}
        out: list[bytes] = []
        for rid, answer in results:
            if id(answer) not in pieces:
                pieces[id(answer)] = self._around(
                    request_id, template, answer, version, latency_ms, now
                )
            around = pieces[id(answer)]
            spliced = None
            if around is not None:
                try:
                    spliced = around[0] + orjson.dumps(mask(rid, self.key)) + around[1]
                except TypeError:  # an id only the standard library encodes: the long way
                    spliced = None
            if spliced is None:
                request = {**template, "resource": {**template["resource"], "id": rid}}
                spliced = _line(self.key, request_id, request, answer, version, latency_ms, now=now)
            out.append(spliced)
        self._append(b"".join(out))

    def _around(
        self,
        request_id: str | None,
        template: dict[str, Any],
        answer: dict[str, Any],
        version: str,
        latency_ms: float,
        now: float,
    ) -> tuple[bytes, bytes] | None:
        """The line with the record id left out, as the bytes before and after it; None where
        the line cannot be spliced: the template holds the marker, or holds what only the
        standard library's encoder writes (its bytes differ from orjson's)."""
        request = {**template, "resource": {**template["resource"], "id": _MARKER}}
        try:
            orjson.dumps([request, answer, version])
        except TypeError:
            return None
        line = _line(self.key, request_id, request, answer, version, latency_ms, now=now)
        parts = line.split(_MARKER_JSON)
        return (parts[0], parts[1]) if len(parts) == 2 else None

    def write_search(
        self,
        request_id: str | None,
        request: Any,
        kind: str,
        version: str,
        latency_ms: float,
    ) -> None:
        """A search page that found nothing: the search itself, `decision` null."""
        search = {"kind": kind, "results": 0}
        self._append(
            _line(self.key, request_id, request, {"decision": None}, version, latency_ms, search)
        )

    def write_plan(
        self, request_id: str | None, request: Any, plan: dict[str, Any], latency_ms: float
    ) -> None:
        """A query plan answered (/access/v1/plan/resource): the plan, `decision` null."""
        version = plan.get("policy_version", "")
        self._append(
            _line(
                self.key, request_id, request, {"decision": None}, version, latency_ms, None, plan
            )
        )

    def _append(self, data: bytes) -> None:
        """Raises OSError when the line cannot be written: the caller must not answer."""
        with self._lock:
            try:
                if self._reopen or (self._due() and self._moved()):
                    self._reopen = False
                    old, self._fd = self._fd, self._open()
                    os.close(old)
                while data:  # write(2) may take less than asked: finish before answering
                    data = data[os.write(self._fd, data) :]
            except OSError:
                self.healthy = False
                self.failures += 1
                raise
            self.healthy = True

    def close(self) -> None:
        os.close(self._fd)


def decision_sink(
    log: DecisionLog, request_id: str | None
) -> Callable[[list[tuple[Request, Decision]]], None]:
    """Engine decisions taken outside an evaluation route (a migration's `run_migration` and
    enrolments): one line each, in one write, with the engine's request and rules."""

    def write(decisions: list[tuple[Request, Decision]]) -> None:
        log.write_many(
            request_id,
            [
                (
                    as_evaluation(r),
                    {"decision": d.allowed, "context": {"rules": list(d.rules)}},
                    d.policy_version,
                )
                for r, d in decisions
            ],
            0.0,
        )

    return write


def _line(
    key: bytes,
    request_id: str | None,
    request: Any,
    decision: dict[str, Any],
    version: str,
    latency: float,
    search: dict[str, Any] | None = None,
    plan: dict[str, Any] | None = None,
    now: float | None = None,
) -> bytes:
    line = {
        "time": time.time() if now is None else now,
        "request_id": request_id,
        "request": mask(request, key),
        "decision": decision.get("decision"),
        "rules": decision.get("context", {}).get("rules", []),
        "policy_version": version,
        "latency_ms": round(latency, 3),
    }
    if search is not None:
        line["search"] = search
    if plan is not None:
        line["plan"] = plan
    return json_bytes(line) + b"\n"
