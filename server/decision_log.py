"""One JSON line per decision, written with a single write(2) on an O_APPEND descriptor before
the answer leaves: once a client has its answer, the line is in the kernel, and a kill -9 of
the server cannot lose it.

Masking rule: in the logged request, the values of `sender` and `acting_as` (addresses and
identities a caller claimed), and of any key whose name contains `token`, `secret`,
`password` or `email`, are replaced by `sha256:` and the first 12 hex digits of their hash:
equal values stay comparable, the values themselves are not kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.decision import Decision
from engine.request import Request
from server.authzen import as_evaluation
from server.jsonio import dumps

MASKED_KEYS = ("sender", "acting_as")
MASKED_PARTS = ("token", "secret", "password", "email")


def mask(value: Any) -> Any:
    """The value with sensitive values hashed. What holds nothing to mask is returned as it is,
    not copied: the result is only serialised, and most requests hold nothing to mask."""
    if isinstance(value, dict):
        out: dict[Any, Any] | None = None
        for k, v in value.items():
            new = _hashed(v) if _sensitive(k) else mask(v) if isinstance(v, dict | list) else v
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [mask(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


@functools.lru_cache(maxsize=4096)
def _sensitive(key: str) -> bool:
    return key in MASKED_KEYS or any(part in key.lower() for part in MASKED_PARTS)


def _hashed(value: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value).encode()).hexdigest()[:12]


class DecisionLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def write(
        self,
        request_id: str | None,
        request: Any,
        decision: dict[str, Any],
        version: str,
        latency_ms: float,
    ) -> None:
        self._append(_line(request_id, request, decision, version, latency_ms))

    def write_many(
        self,
        request_id: str | None,
        entries: list[tuple[Any, dict[str, Any], str]],
        latency_ms: float,
    ) -> None:
        """A batch's lines in one write(2), before the batch is answered."""
        self._append(b"".join(_line(request_id, r, d, v, latency_ms) for r, d, v in entries))

    def _append(self, data: bytes) -> None:
        with self._lock:
            while data:  # write(2) may take less than asked: finish before answering
                data = data[os.write(self._fd, data) :]

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
    request_id: str | None, request: Any, decision: dict[str, Any], version: str, latency: float
) -> bytes:
    return (
        dumps(
            {
                "time": time.time(),
                "request_id": request_id,
                "request": mask(request),
                "decision": decision.get("decision"),
                "rules": decision.get("context", {}).get("rules", []),
                "policy_version": version,
                "latency_ms": round(latency, 3),
            }
        )
        + b"\n"
    )
