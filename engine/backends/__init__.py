"""Backends answer one question the same way: the raw answer to a checked Request.

A backend decides; it never explains. acting_as, sender, redact_fields and the words of a
decision are computed once, outside the backends (engine/explain.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.request import Request


@dataclass(frozen=True, slots=True, order=True)
class GrantRef:
    """A grant that applied: the DOMAIN rule it implements and the product it runs under."""

    rule: str
    product: str  # "books", "subscriptions", or "crm" for the admin actions of D12


@dataclass(frozen=True, slots=True)
class RawAnswer:
    allowed: bool
    determining: tuple[str, ...] = ()  # policy ids, for a backend that has them (Cedar)
    grants: tuple[GrantRef, ...] = ()  # on an allow, or for grants_many: what granted it
    restrictions: tuple[str, ...] = ()  # DOMAIN rules of the restrictions that applied
    errors: tuple[str, ...] = ()


class Backend(Protocol):
    name: str

    def answer(self, request: Request) -> RawAnswer: ...

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]: ...

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        """Which grants would cover each request, restrictions aside: what a grant is."""
        ...

    def seat_rules(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(product, "member" | "integration") -> the DOMAIN rules that grant such a seat."""
        ...
