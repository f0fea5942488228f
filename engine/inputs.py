"""Reading the files and JSON texts the engine is given, with one shape of error for all:
the file's path (or the caller's name for the text) first, then what went wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import AuthzError

# An org of 100,000 users and 100,000 records is about 30 MB; a file far beyond that is a
# mistake that would take minutes and gigabytes to refuse later (1,000,000 users: 10.8 GB).
MAX_INPUT_BYTES = 64 << 20


def read_file(path: Path, what: str, error: type[AuthzError]) -> str:
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise error(f"{path}: {what} is larger than {MAX_INPUT_BYTES >> 20} MiB")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None


MAX_DEPTH = 32  # our deepest document (an org snapshot) nests 6 deep


class JsonRefused(ValueError):
    """JSON that parses but that we refuse: a duplicate key, nesting too deep."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two `subject` (or two `id`) keys: a parser upstream that keeps the first sees another
    # request than we would, so neither is taken.
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise JsonRefused(f"duplicate key `{dup}`")
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def strict_loads(raw: str | bytes) -> Any:
    """JSON with no duplicate keys, at most MAX_DEPTH deep, integers of at most 4,300 digits.
    Raises ValueError (JSONDecodeError or JsonRefused) with a message fit to show."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH}") from None
    # A document with fewer brackets than the limit cannot be deeper than it: skip the walk.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH}")
    return value


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            todo += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def decode_json(text: str, where: str, error: type[AuthzError]) -> Any:
    """`where` is the prefix of every message: "path: " or ""."""
    if len(text) > MAX_INPUT_BYTES:
        raise error(f"{where}larger than {MAX_INPUT_BYTES >> 20} MiB")
    try:
        return strict_loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # a refusal, or an integer of more than 4,300 digits
        raise error(f"{where}not accepted as JSON: {exc}") from None
