"""A decision in words, for a person at a terminal."""

from __future__ import annotations

from suite_authz.cli.terminal import coloured
from suite_authz.engine.core import Catalogue, Decision, Request


def describe_request(request: Request, catalogue: Catalogue) -> str:
    module = catalogue.modules.get(request.resource_type)
    noun = module.singular if module else request.resource_type
    target = f"{noun} `{request.resource_id}`" if request.resource_id else f"{noun} (any, or new)"
    channel = "from the CRM" if request.channel == "crm" else "directly in the product"
    fields = f" touching {', '.join(request.fields)}" if request.fields else ""
    return f"{request.subject} · {request.action} · {target}{fields} · {channel}"


def render(decision: Decision, request: Request, catalogue: Catalogue, source: str = "") -> str:
    head = (
        coloured("ALLOW", "green", bold=True)
        if decision.allowed
        else coloured("DENY ", "red", bold=True)
    )
    lines = [f"{head}  {describe_request(request, catalogue)}"]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<10} {value}")

    if decision.acting_as is not None:
        product = catalogue.label(decision.acting_as.product)
        row("acting as", f"{decision.acting_as.user} in {product} (own identity, D1)")
    if decision.sender:
        row("sender", f"{decision.sender} (the user's own address, D11)")
    if decision.redact_fields:
        row("redact", ", ".join(decision.redact_fields) + " (hidden by the user's role, D7)")
    # The same words whichever encoding decided: each reason, then the Cedar policy that gave
    # it when the backend names policies (Polar names rules only).
    label = "because" if decision.allowed else "why"
    for n, reason in enumerate(decision.reasons):
        named = f"  [{decision.policies[n]}]" if n < len(decision.policies) else ""
        row(label, reason + named)
    for needed in decision.missing:
        row("needed", needed)
    for error in decision.errors:
        row("error", error)
    if decision.rules:
        row("rules", ", ".join(decision.rules))
    row("version", f"policy set {decision.policy_version}" + (f" ({source})" if source else ""))
    return "\n".join(lines)
