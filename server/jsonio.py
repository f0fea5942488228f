"""JSON in and out of the sidecar, with orjson: on the hot path, the standard library's
encoder and decoder cost as much as the rest of the HTTP handling (bench/bench_serve.py).
Reading refuses duplicate keys and deep nesting (engine/core/reading.py); writing never loses a line
to the encoder (engine/serving/decision_log.py)."""

from __future__ import annotations

from suite_authz.engine.core import strict_loads as loads
from suite_authz.engine.serving import json_bytes

__all__ = ["json_bytes", "loads"]
