"""A semantic diff in words for a terminal, as a pull-request comment, or as JSON."""

from __future__ import annotations

import json

from suite_authz.engine import DiffReport


def render_text(report: DiffReport) -> str:
    lines = [_summary(report)]
    for g in report.groups:
        tag = "WIDENED " if g.widening else "NARROWED"
        lines.append(
            f"{tag} {g.who} · {g.action} · {g.type}: {g.was} -> {g.now} "
            f"({g.count} requests; rules {', '.join(g.to_dict()['rules']) or '-'}; "
            f"policies {', '.join(sorted(g.policies)) or '-'})"
        )
        e = g.example
        res = e["resource_type"] + (f":{e['resource_id']}" if e["resource_id"] else "")
        lines.append(
            f"         e.g. {e['subject']} {e['action']} {res} "
            f"(org {e['org']}, channel {e['channel']})"
        )
    return "\n".join(lines)


def render_markdown(report: DiffReport) -> str:
    out = [f"### Policy diff: `{report.base}` → `{report.head}`", "", _summary(report), ""]
    for title, groups in (
        ("Widenings (someone gains)", report.widenings),
        ("Narrowings (someone loses)", report.narrowings),
    ):
        if not groups:
            continue
        out += [
            f"#### {title}",
            "",
            "| who | action | type | was | now | requests | rules | policies | example |",
            "| --- | --- | --- | --- | --- | ---: | --- | --- | --- |",
        ]
        for g in groups:
            e = g.example
            res = e["resource_type"] + (f":{e['resource_id']}" if e["resource_id"] else "")
            out.append(
                f"| {g.who} | `{g.action}` | {g.type} | {g.was} | {g.now} | {g.count} | "
                f"{', '.join(g.to_dict()['rules'])} | "
                f"{', '.join(f'`{p}`' for p in sorted(g.policies))} | "
                f"`{e['subject']} {e['action']} {res}` ({e['org']}) |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_json(report: DiffReport) -> str:
    return json.dumps([g.to_dict() for g in report.groups], indent=2)


def _summary(report: DiffReport) -> str:
    if not report.groups:
        return (
            f"no change in any decision: {report.compared} requests compared over "
            f"{len(report.orgs)} orgs ({', '.join(report.orgs)})"
        )
    return (
        f"{len(report.widenings)} widenings and {len(report.narrowings)} narrowings "
        f"({sum(g.count for g in report.groups)} of {report.compared} requests changed, "
        f"over {len(report.orgs)} orgs: {', '.join(report.orgs)})"
    )
