"""JSON in and out of the sidecar, with orjson: on the hot path, the standard library's
encoder and decoder cost as much as the rest of the HTTP handling (bench/bench_serve.py).
Reading refuses duplicate keys and deep nesting (engine/inputs.py); writing never loses a line
to the encoder (engine/decision_log.py)."""

from __future__ import annotations

from suite_authz.engine import json_bytes
from suite_authz.engine import strict_loads as loads

__all__ = ["json_bytes", "loads"]
