"""authz verify: the rule book's promises, proven over every org the model allows."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from suite_authz.cli.exits import ALLOW, DENY, CommandFailed
from suite_authz.cli.options import format_option, policies_option
from suite_authz.cli.render_diff import facts
from suite_authz.engine.core import AuthzError
from suite_authz.engine.review import verify_theorems
from suite_authz.engine.sources import PolicyRef, resolve_policies


@click.command()
@policies_option
@format_option()
def verify(policies: PolicyRef, output_format: str) -> None:
    """Prove the rule book's theorems (P1: no right derived from an admin's for a user who is a
    member of no product; D1, D2, D3, D5, D7, D8, D11, D12, R1) for every request of every org
    the model allows, with z3. A theorem that fails shows a counterexample org and request
    that Cedar allows, and the org facts that decide it (exit 1). A set the proof refuses
    exits 2; a counterexample Cedar does not confirm is an encoding error (exit 3)."""
    started = time.perf_counter()
    try:
        verdicts = verify_theorems(resolve_policies(policies).policies)
    except AuthzError as exc:
        raise CommandFailed(exc) from None
    failed = [v for v in verdicts if not v.holds]
    if output_format == "json":
        click.echo(json.dumps({"theorems": [_with_facts(v.to_dict()) for v in verdicts]}, indent=2))
    else:
        for v in verdicts:
            state = "holds" if v.holds else "FAILS"
            click.echo(
                f"{v.theorem.id:<4} {state}  {v.seconds:5.2f} s  "
                f"[{v.theorem.rule}] {v.theorem.statement}"
            )
            for line in counterexample_lines(v):
                click.echo(f"      {line}")
        click.echo(
            f"{len(verdicts)} theorems, {len(verdicts) - len(failed)} hold, over every org the "
            f"model allows, in {time.perf_counter() - started:.1f} s"
        )
    raise SystemExit(DENY if failed else ALLOW)


def counterexample_lines(v: Any) -> list[str]:
    """A failing theorem's counterexample (a request Cedar allows) and the org facts that
    decide it, in two lines; none for a theorem that holds (`authz review` says the same)."""
    if v.counterexample is None:
        return []
    org, request, decision = v.counterexample
    record = request.resource_type + (f":{request.resource_id}" if request.resource_id else "")
    return [
        f"counterexample: {request.subject} {request.action} {record} from {request.channel}"
        + (f", fields {' '.join(request.fields)}" if request.fields else "")
        + "".join(f", {k} {val}" for k, val in sorted(request.context.items()))
        + f": Cedar says {decision.decision} ({', '.join(decision.policies)}); "
        "--format json gives the org",
        f"where {'; '.join(facts(org, request.to_dict()))}",
    ]


def _with_facts(theorem: dict[str, Any]) -> dict[str, Any]:
    """A failing theorem's counterexample, with the org facts that decide it in words."""
    found = theorem.get("counterexample")
    if found is not None:
        theorem["counterexample"] = {**found, "facts": facts(found["org"], found["request"])}
    return theorem
