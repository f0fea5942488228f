"""Did-you-mean, as click does for subcommands: one close spelling, never a guess acted on.

A hint is worked out only once a name or id has been found unknown (a refusal, or a deny that
says which id is unknown), never for a known one: a good request pays nothing for it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator

# No name or id the engine knows is longer than 256 characters (engine/core/model.py `Id`), and
# difflib's ratio of 0.75 needs the shorter text to be at least 0.6 of the longer: a longer
# text (a 1 MiB subject id) gets no hint, and costs nothing to refuse one.
_LONGEST_ID = 256
_LONGEST_HINTED = 2 * _LONGEST_ID

# Ids are compared one by one up to this many (3 ms at worst). Among more (an org of
# 100,000 users or records) only the ids one edit away are looked up, whatever the org's
# size: a fraction of a millisecond for an id of ten letters, 10 ms for one of 256. difflib
# over 100,000 ids takes a quarter of a second, which a sidecar would spend on every request
# for an unknown id.
SCAN_UP_TO = 500
_ID_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789-_."


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` when one known name is close to `value`, else ``. Close, case
    aside: difflib's ratio of 0.75 or more, the same but for a final `s`, or one edit away
    (a letter missing, extra or wrong, or two swapped: `crn` for `crm`, too short for the
    ratio)."""
    if not isinstance(value, str) or not value or len(value) > _LONGEST_HINTED:
        return ""
    known: dict[str, str] = {}
    for name in choices:
        known.setdefault(name.lower(), name)
    guess = value.lower()
    close = difflib.get_close_matches(guess, known, n=1, cutoff=0.75)
    if not close:
        # `estimates` for `estimate`: a plural or a stray letter at the end
        stem = guess.rstrip("s")
        close = [k for k in known if stem == k.rstrip("s")][:1]
    if not close:
        close = [k for k in known if _one_edit_apart(guess, k)][:1]
    return _hint(known[close[0]]) if close else ""


def did_you_mean_id(value: object, ids: Collection[str]) -> str:
    """did_you_mean among a user's or a record's ids: the same test among up to SCAN_UP_TO
    of them; among more, the ids one edit away from `value`, or equal to it but for case,
    the first in sorted order."""
    if len(ids) <= SCAN_UP_TO:
        return did_you_mean(value, ids)
    if not isinstance(value, str) or not value or len(value) > _LONGEST_ID + 1:
        return ""
    found = {v for v in (value.lower(), *_one_edit(value)) if v != value and v in ids}
    return _hint(min(found)) if found else ""


def _hint(name: str) -> str:
    return f"; did you mean `{name}`?"


def _one_edit_apart(a: str, b: str) -> bool:
    """Whether `b` is `a` with one letter dropped, added or changed, or two neighbours
    swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [n for n, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return diffs == [i, i + 1] and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    pairs = enumerate(zip(short, long[: len(short)], strict=True))
    n = next((n for n, (x, y) in pairs if x != y), len(short))
    return short[n:] == long[n + 1 :]


def _one_edit(value: str) -> Iterator[str]:
    """Every text one edit away from `value`, with letters from ids' usual alphabet and from
    `value` itself."""
    letters = sorted(set(_ID_LETTERS) | set(value))
    for n in range(len(value) + 1):
        head, tail = value[:n], value[n:]
        if tail:
            yield head + tail[1:]
            if len(tail) > 1:
                yield head + tail[1] + tail[0] + tail[2:]
        for letter in letters:
            yield head + letter + tail
            if tail:
                yield head + letter + tail[1:]
