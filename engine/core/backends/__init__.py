"""Backends answer one question the same way: the raw answer to a checked Request.

A backend decides, and says what its decision carries: on an allow, the obligations (acting_as,
sender, fields to redact, the rules checked that held), each worked out by the backend from its
own encoding (cedar_obligations.py, polar_obligations.py), so that the differential check
compares them for real. A backend never words a decision: engine/core/explain.py does.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol

from suite_authz.engine.core.request import Request


@dataclass(frozen=True, slots=True, order=True)
class GrantRef:
    """A grant that applied: the rule it implements and the product it runs under."""

    rule: str
    product: str  # "books", "subscriptions", or "crm" for the admin actions of D12


@dataclass(frozen=True, slots=True)
class Obligations:
    """What an allow carries besides "allow", as one backend's encoding works it out."""

    product: str  # D1: the product whose identity the action runs under ("crm" for D12)
    rules: tuple[str, ...]  # R3: rules checked on the request that held (D7, D8, D9, D10, D11)
    policies: tuple[str, ...] = ()  # the obligation policies that applied (Cedar ids)
    sender: str | None = None  # D11: the address a mail leaves from
    redact: tuple[str, ...] = ()  # D7: the fields a view hides, sorted


@dataclass(frozen=True, slots=True)
class RawAnswer:
    allowed: bool
    determining: tuple[str, ...] = ()  # policy ids, for a backend that has them (Cedar)
    grants: tuple[GrantRef, ...] = ()  # on an allow, or for grants_many: what granted it
    restrictions: tuple[str, ...] = ()  # rules of the restrictions that applied
    errors: tuple[str, ...] = ()
    obligations: Obligations | None = None  # on an allow (answer, answer_many)


def acting_product(grants: Sequence[GrantRef], order: Sequence[str]) -> str:
    """D1: with grants in several products, the action runs in the first by catalogue order."""
    rank = {p: n for n, p in enumerate(order)}
    return min((g.product for g in grants), key=lambda p: rank.get(p, len(rank)), default="crm")


class Backend(Protocol):
    name: str

    def answer(self, request: Request) -> RawAnswer: ...

    def answer_many(self, requests: Sequence[Request]) -> list[RawAnswer]: ...

    def grants_many(self, requests: Sequence[Request]) -> list[RawAnswer]:
        """Which grants would cover each request, restrictions aside: what a grant is."""
        ...

    def seat_rules(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(product, "member" | "integration") -> the rules that grant such a seat."""
        ...

    def record_classes(self, template: Request) -> Callable[[str], Hashable] | None:
        """For questions that differ only in their record's id (`template` with each id): a
        record's class, equal for two records only where the backend's answers are equal;
        None for a backend that cannot tell (each record is then asked)."""
        ...
