"""A semantic diff in words for a terminal, as a pull-request comment, or as JSON."""

from __future__ import annotations

import json

from suite_authz.engine import DiffGroup as Group
from suite_authz.engine import DiffReport


def render_text(report: DiffReport) -> str:
    return "\n".join([_summary(report), *(line for g in report.groups for line in _lines(g))])


def _lines(g: Group, proven: bool = False) -> list[str]:
    tag = "WIDENED " if g.widening else "NARROWED"
    size = "proven" if proven else f"{g.count} requests"
    e = g.example
    res = e["resource_type"] + (f":{e['resource_id']}" if e["resource_id"] else "")
    touched = f", fields {' '.join(e['fields'])}" if e.get("fields") else ""
    context = "".join(f", {k} {v}" for k, v in sorted(e.get("context", {}).items()))
    lines = [
        f"{tag} {g.who} · {g.action} · {g.type}: {g.was} -> {g.now} "
        f"({size}; rules {', '.join(g.to_dict()['rules']) or '-'}; "
        f"policies {', '.join(sorted(g.policies)) or '-'})",
        f"         e.g. {e['subject']} {e['action']} {res} "
        f"(org {e['org']}, channel {e['channel']}{touched}{context})",
    ]
    if "polar" in e:
        lines.append(
            f"         Polar answers {e['polar']['before']} -> {e['polar']['after']} here: the "
            "two encodings of the sets disagree (authz crosscheck)"
        )
    return lines


def render_proven(enumerated: DiffReport, proven: DiffReport, fmt: str) -> str:
    """The enumerated diff, then what the proof found over every org the model allows."""
    if fmt == "json":
        return json.dumps(
            {
                "enumerated": [g.to_dict() for g in enumerated.groups],
                "proven": [g.to_dict() for g in proven.groups],
            },
            indent=2,
        )
    if not proven.groups:
        summary = "proven: no decision changes, for any org the model allows and any request"
    else:
        summary = (
            f"proven over every org the model allows: {len(proven.widenings)} widenings and "
            f"{len(proven.narrowings)} narrowings (one counterexample each, confirmed by Cedar; "
            "--format json gives its org snapshot)"
        )
    if fmt == "markdown":
        rows = [f"| {' '.join(_lines(g, proven=True))} |" for g in proven.groups]
        table = ["", "| proven change and counterexample |", "| --- |", *rows] if rows else []
        return render_markdown(enumerated) + "\n" + "\n".join([f"#### {summary}", *table]) + "\n"
    lines = [summary, *(line for g in proven.groups for line in _lines(g, proven=True))]
    return render_text(enumerated) + "\n\n" + "\n".join(lines)


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
