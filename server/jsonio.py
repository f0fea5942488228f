"""JSON in and out of the sidecar, with orjson: on the hot path, the standard library's
encoder and decoder cost as much as the rest of the HTTP handling (bench/bench_serve.py)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON; what orjson cannot encode (an integer beyond 64 bits) goes through the
    standard library, so no answer or log line is ever lost to the encoder."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def loads(raw: bytes) -> Any:
    """Raises ValueError (orjson.JSONDecodeError is one) for anything that is not UTF-8 JSON,
    lone surrogates and integers beyond 64 bits included."""
    return orjson.loads(raw)
