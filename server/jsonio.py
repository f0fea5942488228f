"""JSON in and out of the sidecar, with orjson: on the hot path, the standard library's
encoder and decoder cost as much as the rest of the HTTP handling (bench/bench_serve.py)."""

from __future__ import annotations

from typing import Any

import orjson

from engine.decision_log import dumps
from engine.inputs import strict_loads

__all__ = ["dumps", "loads"]


def loads(raw: bytes) -> Any:
    """Raises ValueError for anything that is not UTF-8 JSON (lone surrogates and integers
    beyond 64 bits included), for duplicate keys and for nesting over MAX_DEPTH. orjson reads
    first, as the fast check of the common bad input; the standard library's decoder then
    refuses what orjson would silently take (a duplicate key keeps the last value)."""
    orjson.loads(raw)
    return strict_loads(raw)
