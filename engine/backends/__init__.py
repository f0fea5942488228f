"""Backends answer one question the same way: the raw answer to a checked Request.

A backend decides; it never explains. acting_as, sender, redact_fields and the words of a
decision are computed once, outside the backends (engine/explain.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.request import Request


@dataclass(frozen=True, slots=True)
class RawAnswer:
    allowed: bool
    determining: tuple[str, ...]  # policy ids (or rule-level ids the backend can attribute)
    errors: tuple[str, ...] = ()


class Backend(Protocol):
    name: str

    def answer(self, request: Request) -> RawAnswer: ...

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]: ...

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        """Which grants would cover each request, restrictions aside: what a grant is."""
        ...
