"""What a rule code means, for the page's legend and tooltips, and explanation text as HTML.

docs/ does not ship in the installed package, so each rule's heading and one-line meaning are
copied here from docs/rules.md: the heading word for word, the meaning a sentence of the
section's first paragraph (tests/api/test_ui_rules.py fails when either drifts from it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    title: str  # the heading in docs/rules.md, after the code
    meaning: str  # one sentence of its first paragraph, Markdown code spans kept

    @property
    def short(self) -> str:
        """A matrix cell's tooltip: thousands of cells a page, so the heading, not the
        sentence (the legend under the table holds that)."""
        return f"{self.code} {self.title}"

    @property
    def full(self) -> str:
        return f"{self.code} {self.title}: {_plain(self.meaning)}"


RULE_BOOK: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule(
            "D1",
            "Own identity, never borrowed",
            "Every allowed finance action runs as the acting user, in the product that owns "
            "the record; the decision says so (`acting_as`: user and product).",
        ),
        Rule(
            "D2",
            "No membership, no access",
            "A CRM user who is neither a member nor an integration user of a product that owns "
            "a record is denied every action on it, whatever the CRM profile says.",
        ),
        Rule(
            "D3",
            "CRM profile gate",
            "An action taken from the CRM also needs the CRM profile to allow that action on "
            "that module.",
        ),
        Rule(
            "D4",
            "Integration-user rights in Books",
            "An integration user of Books may view, create and edit records of every Books "
            "finance module (estimates, sales orders, invoices, purchase orders), from the CRM.",
        ),
        Rule(
            "D5",
            "No direct access for integration users",
            "An integration user never acts in a product directly (its web app or API), only "
            "through the CRM.",
        ),
        Rule(
            "D6",
            "Unified permissions for members",
            "For a member acting from the CRM, the product's own role decides, as inside the "
            "product.",
        ),
        Rule(
            "D7",
            "Field-level permissions",
            "A role may hide fields or make them read-only. A view hides them (the decision "
            "lists the fields to redact); an edit that touches a hidden or read-only field is "
            "denied, naming the field.",
        ),
        Rule(
            "D8",
            "Approval process",
            "Where a product has approval switched on for a module, a record pending approval "
            "can be approved only by a user whose role grants `approve` on that module, never "
            "by the user who submitted it; it cannot be sent or converted until approved; only "
            "an approver may edit it while it is pending; only a draft can be submitted.",
        ),
        Rule(
            "D9",
            "Union across products",
            "An integration user of several products has the union of the per-product grants; "
            "shared modules open if any enrolment opens them.",
        ),
        Rule(
            "D10",
            "Subscriptions in the CRM",
            'Viewing or creating subscriptions, running the reports of the "Subscriptions '
            'Reports" folder and viewing the two dashboards ("Subscriptions Overview", '
            '"Subscriptions Insights") need the user\'s own Subscriptions rights (a membership '
            "or an enrolment) plus D3, in the user's own scope.",
        ),
        Rule(
            "D11",
            "Email under one's own name",
            "`send_email` sends from the acting user's own address, and the decision names the "
            "sender; never the integration owner's.",
        ),
        Rule(
            "D12",
            "Enrolment and migration",
            "Only a CRM admin may enrol integration users or run a migration.",
        ),
        Rule(
            "R1",
            "The limit counts every integration user (D12)",
            "The limit caps how many users are integration users of the org, however they were "
            "enrolled: by an admin one at a time, by the migration, or automatically when the "
            "window closed.",
        ),
        Rule(
            "R2",
            "Approval follows the product that switched it on (D8)",
            "A record of a shared module is under the approval process of each product that "
            "has it on; it can be approved only through a role, in such a product, that grants "
            "`approve` on the module.",
        ),
        Rule(
            "R3",
            "A decision names every rule that shaped it",
            "An allow names the rule that granted it (D4, D6, D10, D12) and each rule checked "
            "on the request that held: D8 for approve, submit, send_email, convert and edit "
            "where the module has approval on; D9 for an integration user of both products; "
            'D10 for subscriptions, the "Subscriptions Reports" folder and the two dashboards; '
            "D11 for send_email; D7 when fields are redacted.",
        ),
        Rule(
            "R4",
            "Field names are the module's own (D7)",
            "A request naming a field its module does not have is refused as bad input, never "
            "allowed (CLI exit 2, sidecar 400, an error item in a batch), with a did-you-mean "
            "for a near miss.",
        ),
    )
}

_ORDER = {code: n for n, code in enumerate(RULE_BOOK)}
# A code span, or a rule code standing alone (`D12`, not `D123` nor `ID1`)
_RICH = re.compile(r"`([^`\n]+)`|\b([DR]\d{1,2})\b")


def _plain(text: str) -> str:
    return text.replace("`", "")


def in_order(codes: set[str] | list[str] | tuple[str, ...]) -> list[str]:
    """Codes as the rule book orders them (D2 before D10); unknown codes last, as given."""
    return sorted(set(codes), key=lambda c: (_ORDER.get(c, len(_ORDER)), c))


def abbr(code: str, *, full: bool = True) -> Markup:
    """A rule code with its meaning as a tooltip; a code the book lacks stays plain text."""
    rule = RULE_BOOK.get(code)
    if rule is None:
        return escape(code)
    title = rule.full if full else rule.short
    return Markup('<abbr title="{}">{}</abbr>').format(title, code)


def rich(text: object) -> Markup:
    """Explanation text (the engine's reasons, error messages) as HTML: everything escaped,
    then `x` as <code>x</code> and a rule code as an <abbr> with its meaning. Each piece is
    escaped on its own, so what a user typed (a record id with `<script>` or a backtick) can
    only ever be text."""
    source = str(text)
    out: list[str] = []
    end = 0
    for found in _RICH.finditer(source):
        out.append(str(escape(source[end : found.start()])))
        if found.group(1) is not None:
            out.append(str(Markup("<code>{}</code>").format(found.group(1))))
        else:
            out.append(str(abbr(found.group(2))))
        end = found.end()
    out.append(str(escape(source[end:])))
    return Markup("".join(out))


# A page shows thousands of cells and a few distinct sets of codes: each set is made once.
@lru_cache(maxsize=1024)
def cell_codes(codes: tuple[str, ...]) -> Markup:
    """A cell's codes, each with its heading as a tooltip."""
    return Markup(" ").join(abbr(c, full=False) for c in codes)


@lru_cache(maxsize=1024)
def cell_legend(codes: tuple[str, ...]) -> str:
    """The legend entries (legend.html's ids) that describe a cell's codes: a cell's
    aria-label hides its tooltips from a screen reader, its aria-describedby gives them back,
    at a few bytes a cell rather than the headings again."""
    return " ".join(f"rule-{c}" for c in codes)
