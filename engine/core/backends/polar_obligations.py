"""What an allowed Polar decision carries, from its own rules (policies/polar/obligations.polar).

Written apart from the Cedar side (cedar_obligations.py) on purpose: the differential check
compares the two, so a wrong redaction or sender in either encoding shows as a disagreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polar import Variable

from suite_authz.engine.core.backends import GrantRef, Obligations, acting_product
from suite_authz.engine.core.decision import sorted_rules


def polar_obligations(
    oso: Any,
    args: tuple[Any, str, Any, Any],
    grants: Sequence[GrantRef],
    order: Sequence[str],
) -> Obligations | str:
    """The obligations of an allow, or why they cannot be given (the allow becomes a deny).
    `args`: (user, action, resource, context) as the backend hands them to Polar."""
    user, action, resource, ctx = args
    rules: set[str] = set()
    for found in oso.query_rule("held", user, action, resource, ctx, Variable("rule")):
        rules.add(str(found["bindings"]["rule"]))
    redact: set[str] = set()
    # A view answers with the fields to redact (D7), as on the Cedar side; nothing else does.
    for found in (
        oso.query_rule("redact", user, action, resource, ctx, Variable("field"), Variable("rule"))
        if action == "view"
        else ()
    ):
        redact.add(str(found["bindings"]["field"]))
        rules.add(str(found["bindings"]["rule"]))
    sender = None
    if action == "send_email":
        senders = {
            (str(f["bindings"]["address"]), str(f["bindings"]["rule"]))
            for f in oso.query_rule(
                "sender", user, action, resource, ctx, Variable("address"), Variable("rule")
            )
        }
        addresses = sorted({a for a, _ in senders})
        if len(addresses) != 1:
            named = ", ".join(f"`{a}`" for a in addresses) or "none"
            return f"the policy set must name one sender for this mail (D11), named {named}"
        sender = addresses[0]
        rules.update(r for _, r in senders)
    return Obligations(
        product=acting_product(grants, order),
        rules=sorted_rules(rules),
        sender=sender,
        redact=tuple(sorted(redact)),
    )
