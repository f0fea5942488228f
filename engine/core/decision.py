"""The answer: allow or deny, why, and as whom. Immutable, deterministic when serialised."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ActingAs:
    """D1: whose identity, in which product, an allowed action runs under."""

    user: str
    product: str

    def to_dict(self) -> dict[str, str]:
        return {"user": self.user, "product": self.product}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    rules: tuple[str, ...]  # rule ids, e.g. ("D4",)
    policies: tuple[str, ...]  # @id of each determining policy (sorted), then of each obligation
    reasons: tuple[str, ...]  # one sentence each, in the order of `policies`
    missing: tuple[str, ...] = ()  # on a deny: what would have been needed
    acting_as: ActingAs | None = None
    sender: str | None = None  # D11: send_email leaves from this address
    redact_fields: tuple[str, ...] = ()  # D7: fields a view must hide
    policy_version: str = ""
    errors: tuple[str, ...] = ()  # why the request could not be evaluated (always a deny)
    invalid: bool = False  # the request itself was bad input (CLI exit 2, API 400)

    @property
    def decision(self) -> str:
        return "allow" if self.allowed else "deny"

    def to_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "rules": list(self.rules),
            "policies": list(self.policies),
            "reasons": list(self.reasons),
            "missing": list(self.missing),
            "acting_as": self.acting_as.to_dict() if self.acting_as else None,
            "sender": self.sender,
            "redact_fields": list(self.redact_fields),
            "policy_version": self.policy_version,
            "errors": list(self.errors),
        }


def rule_order(rule: str) -> int:
    return int(rule[1:]) if rule[1:].isdigit() else 99


def sorted_rules(rules: set[str] | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(rules), key=rule_order))
