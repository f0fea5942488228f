"""A semantic diff in words for a terminal, as a pull-request comment, or as JSON.

Text and markdown roll the groups (who, action, type, was -> now) up by who, action and the
rules responsible: one line (or table row) each, with its types and their request counts and
one example; `--verbose` adds one line per group. Under --prove the groups are the union of
the enumerated and the proven ones (`merged_report`), the example is the proof's counterexample with
the org facts that decide it, and one line says whether proof and enumeration agree. Markdown,
what a pull request shows, starts with the verdict and every reason it failed; the text leaves
the reasons to stderr, where every command puts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from suite_authz.cli.exits import ALLOW, DENY, INTERNAL
from suite_authz.engine.review import DiffGroup as Group
from suite_authz.engine.review import DiffReport

INDENT = " " * 9


@dataclass(frozen=True)
class Verdict:
    """What the guards made of the diff: `problems` fail it (exit 1), `contradictions` (an
    enumerated change the proof says cannot happen) are an encoding error (exit 3)."""

    guards: tuple[str, ...] = ()  # the options that judge: `--fail-on X`, `--expect FILE`
    problems: tuple[str, ...] = ()
    contradictions: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return INTERNAL if self.contradictions else DENY if self.problems else ALLOW

    def markdown(self) -> list[str]:
        guards = ", ".join(f"`{g}`" for g in self.guards)
        reasons = [*self.contradictions, *self.problems]
        if self.contradictions:
            n = len(self.contradictions)
            head = (
                f"**Encoding error** (exit 3): enumeration found {n} "
                f"change{'s' if n > 1 else ''} that Cedar confirms and the proof says cannot "
                "happen; no verdict of this diff can be trusted until the encoding is fixed"
            )
        elif self.problems:
            n = len(self.problems)
            head = f"**Fails** ({guards}, exit 1): {n} reason{'s' if n > 1 else ''}"
        elif self.guards:
            return [f"**Passes** ({guards}): nothing to report"]
        else:
            return ["**No guard** (no `--fail-on` or `--expect`): the changes are for review"]
        return [head, "", *(f"- {r}" for r in reasons)]


@dataclass
class Rollup:
    """Groups of one who, action, was -> now and rules: one line of the rolled-up report."""

    groups: list[Group] = field(default_factory=list)

    @property
    def first(self) -> Group:
        return self.groups[0]

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def rules(self) -> list[str]:
        return sorted({r for g in self.groups for r in g.rules}, key=lambda r: int(r[1:]))

    @property
    def policies(self) -> list[str]:
        return sorted({p for g in self.groups for p in g.policies})


def rolled_up(groups: Iterable[Group]) -> list[Rollup]:
    out: dict[tuple[Any, ...], Rollup] = {}
    for g in groups:
        rules = tuple(sorted(g.rules))
        out.setdefault((g.widening, g.who, g.action, g.was, g.now, rules), Rollup()).groups.append(
            g
        )
    return list(out.values())


# -- text ---------------------------------------------------------------------------------------


def render_text(
    report: DiffReport,
    proven: DiffReport | None = None,
    union: DiffReport | None = None,
    verbose: bool = False,
    verdict: Verdict | None = None,
) -> str:
    """`report`: the enumerated diff; under --prove, `proven` and `union`, the two reports'
    union that the guards judge (engine/review/symbolic/review.py `merged_report`). The
    verdict's reasons go to stderr (cli/commands/diff.py)."""
    lines = [_summary(report)]
    shown = report
    if proven is not None and union is not None:
        lines += [_proof_summary(proven), *_agreement(union)]
        shown = union
    for r in rolled_up(shown.groups):
        lines.append(_rollup_line(r, shown is not report))
        if verbose:
            for g in r.groups:
                said = f"{g.type}: {g.extent()}; rules {_rules(g)}; e.g. {_said(g)}"
                lines.append(f"{INDENT}· {said}")
        else:
            lines += _example_lines(_example_of(r.groups))
    if (note := _polar_note(shown.groups)) is not None:
        lines.append(note)
    return "\n".join(lines)


def _rollup_line(r: Rollup, proving: bool) -> str:
    g = r.first
    tag = "WIDENED " if g.widening else "NARROWED"
    types = ", ".join(f"{x.type} ({_type_size(x)})" for x in r.groups)
    size = _rollup_size(r, proving)
    return (
        f"{tag} {g.who} · {g.action} · {types}: {g.was} -> {g.now} "
        f"({size}; rules {', '.join(r.rules) or '-'}; policies {', '.join(r.policies) or '-'})"
    )


def _rollup_size(r: Rollup, proving: bool) -> str:
    size = f"{r.count} requests" if r.count else "in no enumerated org"
    return size + (_proof_state(r.groups) if proving else "")


def _type_size(g: Group) -> str:
    return "proof only" if g.proven and not g.count else str(g.count)


def _proof_state(groups: list[Group]) -> str:
    states = {g.proven for g in groups}
    if False in states:
        missed = ", ".join(g.type for g in groups if g.proven is False)
        return f", NOT proven on {missed}: an encoding error"
    return ", proven"


def _rules(g: Group) -> str:
    return ", ".join(sorted(g.rules, key=lambda r: int(r[1:]))) or "-"


def _example_of(groups: list[Group]) -> dict[str, Any]:
    """The example a rolled-up line shows: the proof's counterexample, with the org facts that
    decide it, where there is one; else the enumerated one."""
    for g in groups:
        if g.counterexample is not None:
            return g.counterexample
    return groups[0].example


def _example(g: Group) -> dict[str, Any]:
    return g.counterexample if g.counterexample is not None else g.example


def _example_lines(e: dict[str, Any]) -> list[str]:
    lines = [f"{INDENT}e.g. {request_words(e)}"]
    if "snapshot" in e:
        lines.append(f"{INDENT}where {'; '.join(facts(e['snapshot'], e))}")
    return lines


def _said(g: Group) -> str:
    e = _example(g)
    said = request_words(e)
    if "snapshot" in e:
        said += f", where {'; '.join(facts(e['snapshot'], e))}"
    return said


def request_words(e: dict[str, Any]) -> str:
    """`asha create invoice (org demo, channel crm)`: an example request in one phrase."""
    res = e["resource_type"] + (f":{e['resource_id']}" if e.get("resource_id") else "")
    touched = f", fields {' '.join(e['fields'])}" if e.get("fields") else ""
    context = "".join(f", {k} {v}" for k, v in sorted(e.get("context", {}).items()))
    where = f"org {e['org']}, channel {e['channel']}{touched}{context}"
    return f"{e['subject']} {e['action']} {res} ({where})"


def _summary(report: DiffReport) -> str:
    names = ", ".join(report.orgs)
    if not report.groups:
        return (
            f"no change in any decision: {report.compared} requests compared over "
            f"{_orgs(report)} ({names}){_asked(report)}"
        )
    return (
        f"{len(report.widenings)} widenings and {len(report.narrowings)} narrowings "
        f"({sum(g.count for g in report.groups)} of {report.compared} requests changed, "
        f"over {_orgs(report)}: {names}){_asked(report)}"
    )


def _orgs(report: DiffReport) -> str:
    return f"{len(report.orgs)} org{'' if len(report.orgs) == 1 else 's'}"


def _asked(report: DiffReport) -> str:
    """Where the enumeration pruned: how many requests both sets were asked."""
    if report.asked >= report.compared:
        return ""
    return f"; {report.asked} asked of both sets, the others matched by no changed policy's scope"


def _proof_summary(proven: DiffReport) -> str:
    if not proven.groups:
        return "proven: no decision changes, for any org the model allows and any request"
    return (
        f"proven over every org the model allows: {len(proven.widenings)} widenings and "
        f"{len(proven.narrowings)} narrowings (one counterexample each, confirmed by Cedar; "
        "--format json gives its org snapshot)"
    )


def _agreement(union: DiffReport) -> list[str]:
    """One line: proof and enumeration agree; or one line per change the proof missed."""
    if union.contradictions:
        return [f"ENCODING ERROR (exit 3): {c}" for c in union.contradictions]
    decided = [g for g in union.groups if g.count]
    only = [g for g in union.groups if g.proven and not g.count]
    line = "proof and enumeration agree: " + (
        f"each of the {len(decided)} changes enumerated is proven"
        if decided
        else "the enumeration found no change"
    )
    if only:
        line += f"; {len(only)} more proven in orgs the enumeration does not hold"
    return [line]


def _polar_note(groups: tuple[Group, ...]) -> str | None:
    """Once per run: the counterexamples Polar answers otherwise than Cedar."""
    proven = [g for g in groups if g.counterexample is not None]
    differ = [g for g in proven if "polar" in (g.counterexample or {})]
    if not differ:
        return None
    g = differ[0]
    e = g.counterexample or {}
    return (
        f"Polar answers {len(differ)} of the {len(proven)} counterexamples otherwise than "
        f"Cedar (e.g. {e['subject']} {e['action']} {e['resource_type']}: Cedar {g.was} -> "
        f"{g.now}, Polar {e['polar']['before']} -> {e['polar']['after']}): the set's two "
        "encodings disagree, and authz crosscheck fails too"
    )


# -- the org facts of a counterexample ------------------------------------------------------------


def facts(org: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """What in a counterexample's org decides it, in words: the acting user's seats (each
    role's grants and field rules, the integration users' field rules), their CRM profile's
    allows, the record's status, submitter, title and folder and its module's approval, the
    user enrolled, the org's data centre, edition and integration users. A counterexample is
    as small as the solver could make it, so what it holds is what the change needs."""
    users = {u["id"]: u for u in org.get("users", [])}
    profiles = {p["id"]: p for p in org.get("profiles", [])}
    subject = request["subject"]
    out = []
    user = users.get(subject)
    if user is not None:
        about = f"{subject} <{user.get('email', '')}> is {_seats(user, org)}"
        if user.get("crm_admin"):
            about += ", a CRM admin"
        out.append(about)
        profile = profiles.get(user.get("profile", ""))
        if profile is not None:
            out.append(f"CRM profile `{profile['id']}` allows {_acts(profile['allows'])}")
    out += _resource_facts(org, request, users)
    where = f"org {org.get('data_centre', '?')} {org.get('edition', '?')}"
    if org.get("new_org"):
        where += ", new"
    if request["resource_type"] in ("user", "org"):
        enrolled = sum(1 for u in org.get("users", []) if u.get("enrolments"))
        limit = org.get("migration", {}).get("limit")
        where += f", {enrolled} integration users of a limit of {limit}"
    out.append(where)
    return out


def _resource_facts(
    org: dict[str, Any], request: dict[str, Any], users: dict[str, dict[str, Any]]
) -> list[str]:
    kind, rid = request["resource_type"], request.get("resource_id")
    if kind == "user":
        target = users.get(rid or "")
        if rid == request["subject"]:
            return ["they enrol themself"]
        return [f"the user enrolled, {rid}, is {_seats(target, org)}"] if target else []
    if kind == "org":
        return []
    out = []
    record = next(
        (r for r in org.get("records", []) if r.get("type") == kind and r.get("id") == rid), None
    )
    if record is None:
        out.append(f"a new {kind}")
    else:
        about = f"record {kind}:{rid} is {record.get('status', 'in its default status')}"
        by = record.get("submitted_by")
        if by is not None:
            about += ", submitted by " + ("themself" if by == request["subject"] else by)
        for attr in ("title", "folder"):
            if attr in record:
                about += f", {attr} {record[attr]!r}"
        out.append(about)
    approvers = sorted(p for p, mods in org.get("approval", {}).items() if kind in mods)
    if approvers:
        out.append(f"{kind} needs approval in {', '.join(approvers)}")
    return out


def _seats(user: dict[str, Any], org: dict[str, Any]) -> str:
    roles = {r["id"]: r for r in org.get("roles", [])}
    parts = []
    members = set()
    for m in user.get("memberships", []):
        members.add(m["product"])
        role = roles.get(m["role"], {})
        rules = _field_rules(role.get("fields", {}))
        parts.append(
            f"a member of {m['product']} as `{m['role']}` (grants {_acts(role.get('grants', {}))}"
            + (f"; {rules}" if rules else "")
            + ")"
        )
    for e in user.get("enrolments", []):
        if e["product"] in members:
            continue
        rules = _field_rules(org.get("integration_user_fields", {}).get(e["product"], {}))
        parts.append(
            f"an integration user of {e['product']}"
            + (f" (integration users: {rules})" if rules else "")
        )
    return " and ".join(parts) or "in no product"


def _acts(allows: dict[str, list[str]]) -> str:
    return "; ".join(f"{m}: {', '.join(acts)}" for m, acts in sorted(allows.items())) or "nothing"


def _field_rules(rules: dict[str, dict[str, str]]) -> str:
    words = {"hidden": "hidden", "read_only": "read-only"}
    return ", ".join(
        f"{m}.{f} {words.get(access, access)}"
        for m, fields in sorted(rules.items())
        for f, access in sorted(fields.items())
    )


# -- markdown ---------------------------------------------------------------------------------


def render_markdown(
    report: DiffReport,
    proven: DiffReport | None = None,
    union: DiffReport | None = None,
    verbose: bool = False,
    verdict: Verdict | None = None,
) -> str:
    """A pull-request comment: the verdict first, with every reason it failed; the summary;
    then a table of widenings and one of narrowings, a row per rolled-up line (per group with
    `verbose`), each with its counts and one example."""
    out = [f"### Policy diff: `{report.base}` → `{report.head}`", ""]
    if verdict is not None:
        out += [*verdict.markdown(), ""]
    out += markdown_changes(report, proven, union, verbose, verdict)
    return "\n".join(out).rstrip() + "\n"


def markdown_changes(
    report: DiffReport,
    proven: DiffReport | None = None,
    union: DiffReport | None = None,
    verbose: bool = False,
    verdict: Verdict | None = None,
) -> list[str]:
    """The diff under its verdict: the summary lines, then who gains and who loses what, a
    table each (`authz review` puts it under its own verdict)."""
    out = [_summary(report)]
    shown = report
    if proven is not None and union is not None:
        out += ["", _proof_summary(proven)]
        if verdict is None or not verdict.contradictions:  # else the verdict names them
            out += ["", *_agreement(union)]
        shown = union
    out.append("")
    for title, groups in (
        ("Widenings (someone gains)", shown.widenings),
        ("Narrowings (someone loses)", shown.narrowings),
    ):
        if not groups:
            continue
        rollups = [Rollup([g]) for g in groups] if verbose else rolled_up(groups)
        out += [
            f"#### {title}",
            "",
            "| who | action | type | was | now | requests | rules | policies | example |",
            "| --- | --- | --- | --- | --- | ---: | --- | --- | --- |",
        ]
        # a counterexample's org facts are a paragraph: in a cell they made each row a screen
        # wide, so the cell names the request and a numbered note under the table the facts
        notes: list[str] = []
        for r in rollups:
            g = r.first
            types = ", ".join(f"{x.type} ({_type_size(x)})" for x in r.groups)
            size = _rollup_size(r, shown is not report)
            e = _example_of(r.groups)
            example = f"`{request_words(e)}`"
            if "snapshot" in e:
                notes.append("; ".join(facts(e["snapshot"], e)))
                example += f" [{len(notes)}]"
            out.append(
                f"| {g.who} | `{g.action}` | {types} | {g.was} | {g.now} | {size} | "
                f"{', '.join(r.rules)} | {', '.join(f'`{p}`' for p in r.policies)} | "
                f"{_cell(example)} |"
            )
        out.append("")
        if notes:
            out += ["Where, in each counterexample's org:", ""]
            out += [f"{n}. {note}" for n, note in enumerate(notes, 1)]
            out.append("")
    if (note := _polar_note(shown.groups)) is not None:
        out += [note, ""]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# -- json ---------------------------------------------------------------------------------------


def render_json(
    report: DiffReport,
    proven: DiffReport | None = None,
    union: DiffReport | None = None,
    verbose: bool = False,
    verdict: Verdict | None = None,
) -> str:
    """Without --prove, the list of groups (docs/cli.md "JSON output"). With it, an object:
    `enumerated` and `proven` (each proven example with its `facts`), `changes` (their union,
    what the guards judge), `agree`, `contradictions`, `problems` and `exit`."""
    if proven is None or union is None:
        return json.dumps([g.to_dict() for g in report.groups], indent=2)
    verdict = verdict or Verdict()
    return json.dumps(
        {
            "exit": verdict.exit_code,
            "problems": list(verdict.problems),
            "agree": not union.contradictions,
            "contradictions": list(union.contradictions),
            "enumerated": [g.to_dict() for g in report.groups],
            "proven": [_with_facts(g.to_dict()) for g in proven.groups],
            "changes": [_with_facts(g.to_dict()) for g in union.groups],
        },
        indent=2,
    )


def _with_facts(d: dict[str, Any]) -> dict[str, Any]:
    for key in ("example", "counterexample"):
        e = d.get(key)
        if isinstance(e, dict) and "snapshot" in e:
            d[key] = {**e, "facts": facts(e["snapshot"], e)}
    return d
