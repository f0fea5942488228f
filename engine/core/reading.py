"""Reading the files and JSON texts the engine is given, with one shape of error for all:
the file's path (or the caller's name for the text) first, then what went wrong."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import orjson

from suite_authz.engine.core.errors import AuthzError

# An org of 10,000 users and 100,000 records is about 9 MB, of 50,000 and 500,000 about 44; a
# file far beyond that is a mistake that would take minutes and gigabytes to refuse later. A
# bigger org is served by raising the limit ($AUTHZ_MAX_INPUT_MB) on the CLI and the sidecars
# alike: a sidecar refuses an org the store holds beyond its own limit, naming it.
MAX_INPUT_BYTES = 64 << 20
LIMIT_ENV = "AUTHZ_MAX_INPUT_MB"
LIMIT_MAX_MB = 1 << 16


def input_limit(error: type[AuthzError] = AuthzError) -> int:
    """The largest file or JSON text read, in bytes: $AUTHZ_MAX_INPUT_MB MiB, else 64 MiB. A
    value that is not a whole number of MiB from 1 to 65,536 is `error`, naming the variable."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return MAX_INPUT_BYTES
    try:
        mb = int(raw)
    except ValueError:
        raise error(f"${LIMIT_ENV}: `{raw}` is not a whole number of MiB") from None
    if not 1 <= mb <= LIMIT_MAX_MB:
        raise error(f"${LIMIT_ENV}: {mb} MiB is not between 1 and {LIMIT_MAX_MB}")
    return mb << 20


def limit_words(limit: int) -> str:
    """The limit as a message says it, with how to raise it."""
    return f"{limit >> 20} MiB (the limit; ${LIMIT_ENV} raises it)"


_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words for a message."""
    return next((word for test, word in _KINDS if test(mode)), "not a regular file")


def read_limited(
    path: Path,
    what: str,
    error: type[AuthzError],
    limit: int | None = None,
    *,
    private: bool = False,
    nofollow: bool = False,
) -> bytes:
    """A regular file's bytes, at most `limit` of them; anything else is `error` naming it.

    The size stat() reports is no bound: /dev/zero and a FIFO report 0 and never end, and a
    file can grow while it is read. So a FIFO, device or socket is refused by its kind (seen
    by stat(2), which never opens it, and again on the open descriptor, which a swap between
    the two cannot fool), and the read stops one chunk past `limit`. O_NONBLOCK: opening a
    FIFO must not wait for a writer. `private`: refuse a file any other user may read (a
    secret, such as a bearer token). `nofollow`: refuse a symlink, for a path already resolved
    and checked (a policy file inside its directory), so that a swap cannot lead elsewhere."""
    given = limit is not None
    limit = limit if limit is not None else input_limit(error)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if nofollow else 0)
    try:
        kind = (os.lstat if nofollow else os.stat)(path).st_mode
        if not stat.S_ISREG(kind):
            raise error(f"{path}: {what} is {file_kind(kind)}, not a regular file: refused")
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: {what} is {file_kind(info.st_mode)}, not a regular file: refused")
        if private and info.st_mode & 0o077:
            raise error(f"{path}: {what} is {_exposed(info.st_mode)}; chmod 600 {path}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        words = _size(limit) if given else limit_words(limit)
        raise error(f"{path}: {what} is larger than {words}")
    return b"".join(chunks)


def _exposed(mode: int) -> str:
    """Who else may touch a secret, for a message: a group is other users too."""
    who = "every user" if mode & 0o006 else "its group" if mode & 0o060 else "other users"
    verb = "readable" if mode & 0o044 else "writable"
    return f"{verb} by {who} (mode {stat.S_IMODE(mode):04o}, only 0600 is accepted)"


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def read_file(
    path: Path,
    what: str,
    error: type[AuthzError],
    limit: int | None = None,
    *,
    private: bool = False,
    nofollow: bool = False,
) -> str:
    """read_limited, as UTF-8 text: the one way the engine and its doors read a file."""
    data = read_limited(path, what, error, limit, private=private, nofollow=nofollow)
    try:
        return data.decode("utf-8")
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
    """JSON with no duplicate keys and at most MAX_DEPTH deep. Raises ValueError (a
    JSONDecodeError, or JsonRefused) with a message fit to show.

    orjson reads it (refusing what is not UTF-8, NaN, lone surrogates; an integer beyond 64
    bits becomes a float). It keeps the last of two equal keys silently, so the keys it kept
    are counted and compared with the key-like tokens of the text (`"`, spaces, `:`): a text
    has at least as many tokens as keys, so equal counts prove no key was dropped. Only when
    they differ (a duplicate, or `":` inside a string) does the standard library's decoder
    read it again, naming the duplicate. A pair hook on every object was 5x slower.
    """
    value = orjson.loads(raw)
    keys = _keys(value, MAX_DEPTH)
    data = raw.encode() if isinstance(raw, str) else raw
    # every token, spaces before the colon included: counting only `":` would let a spaced
    # duplicate hide behind a `\":` inside a string
    if len(_KEY_TOKEN.findall(data)) != keys:
        _DECODER.decode(data.decode("utf-8"))  # raises JsonRefused naming the duplicate
    return value


_KEY_TOKEN = re.compile(rb'"\s*:')


def _keys(value: Any, left: int) -> int:
    """How many keys the objects in `value` hold; JsonRefused past MAX_DEPTH levels."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
        count = len(value)
    elif kind is list:
        items, count = value, 0
    else:
        return 0
    if left == 0:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH}")
    for item in items:
        if type(item) is dict or type(item) is list:
            count += _keys(item, left - 1)
    return count


def decode_json(text: str, where: str, error: type[AuthzError]) -> Any:
    """`where` is the prefix of every message: "path: " or ""."""
    limit = input_limit(error)
    if len(text) > limit:
        raise error(f"{where}larger than {limit_words(limit)}")
    try:
        return strict_loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # a refusal
        raise error(f"{where}not accepted as JSON: {exc}") from None
