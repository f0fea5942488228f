"""A migration plan and its impact in words, for the admin who applies it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

HEADINGS = {
    "enrol": "becomes an integration user",
    "member": "stays a member",
    "enrolled": "already an integration user",
    "over_limit": "not enrolled: over the org's migration limit",
    "pending": "not yet: no finance activity in the window so far",
    "none": "gets nothing: no finance activity in the window",
}


def render_plan(made: dict[str, Any], label: Any, out: Path | None) -> str:
    window = made["window"]
    last = date.fromisoformat(window["end"]).toordinal() - 1
    state = (
        "ended"
        if window["ended"]
        else f"open, {last - date.fromisoformat(made['as_of']).toordinal() + 1} days left"
    )
    lines = [
        f"Migration plan for org `{made['org']}` (version {made['org_version']}), "
        f"as of {made['as_of']}",
        f"  window     {window['start']} to {date.fromordinal(last)} ({state})",
        f"  limit      {made['limit']:,} integration users, however enrolled; "
        f"{made['integration_users_before']:,} before this plan; it enrols "
        f"{len(made['enrolments']):,}",
        f"  usage      {made['usage']}",
    ]
    if made["completes"]:
        lines.append("  completes  applying it closes the migration (the window has ended)")
    for outcome, heading in HEADINGS.items():
        rows = [e for e in made["users"] if e["outcome"] == outcome]
        if not rows:
            continue
        lines += ["", f"{heading} ({len(rows)})"]
        width = max(len(e["user"]) for e in rows)
        for e in rows:
            lines.append(f"  {e['user']:<{width}}  {label(e['product']):<13}  {e['reason']}")
    lines += ["", f"plan_id {made['plan_id']}"]
    where = out if out is not None else "PLAN.json"
    lines.append(
        f"apply with: authz migrate apply --org {made['org']} --plan {where} --as CRM_ADMIN"
    )
    return "\n".join(lines)


def render_impact(report: dict[str, Any]) -> str:
    t = report["totals"]
    owner = report["borrowed_from"]
    lines = [
        "Impact: finance rights from the CRM before (old model: every CRM user borrowed "
        f"{owner or 'nobody'}'s rights) and after (each user's own)",
        f"  {t['users']} users: {t['users_losing']} lose rights ({t['rights_lost']} in all), "
        f"{t['users_gaining']} gain rights ({t['rights_gained']} in all), "
        f"{t['users_unchanged']} unchanged; {t['rights_kept']} rights kept",
    ]
    for group in report["groups"]:
        names = ", ".join(group["users"][:8]) + (
            f" and {group['count'] - 8} more" if group["count"] > 8 else ""
        )
        lines += ["", f"{names} ({group['count']} user{'s' if group['count'] != 1 else ''})"]
        for key in ("lose", "keep", "gain"):
            lines += _rights(key, group[key])
    return "\n".join(lines)


def _rights(key: str, names: list[str]) -> list[str]:
    if not names:
        return [f"  {key:<5} -"]
    by_module: dict[str, list[str]] = {}
    for name in names:
        module, action = name.split(".", 1)
        by_module.setdefault(module, []).append(action)
    return [
        f"  {key if n == 0 else '':<5} {module}: {' '.join(actions)}"
        for n, (module, actions) in enumerate(by_module.items())
    ]
