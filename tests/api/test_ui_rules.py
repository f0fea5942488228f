"""The page's rule book (server/ui/rules.py) against docs/rules.md, which does not ship in the
package: a heading or a first paragraph changed there and not here fails; and explanation text
becomes HTML with everything in it escaped."""

from __future__ import annotations

import re

from suite_authz.server.ui.rules import RULE_BOOK, abbr, in_order, rich
from tests.conftest import ROOT

RULE_BOOK_MD = ROOT / "docs" / "rules.md"


def _sections() -> dict[str, tuple[str, str]]:
    """`D4` -> (its heading after the code, its first paragraph on one line)."""
    text = RULE_BOOK_MD.read_text(encoding="utf-8")
    found = {}
    for m in re.finditer(r"^### ([DR]\d+) (.+)\n\n((?:.+\n)+)", text, flags=re.MULTILINE):
        found[m.group(1)] = (m.group(2).strip(), " ".join(m.group(3).split()))
    return found


def test_the_page_knows_every_rule_of_the_rule_book_and_no_other() -> None:
    assert list(RULE_BOOK) == list(_sections())


def test_each_title_is_its_heading_and_each_meaning_is_from_its_first_paragraph() -> None:
    sections = _sections()
    for code, rule in RULE_BOOK.items():
        heading, paragraph = sections[code]
        assert rule.title == heading, code
        assert " ".join(rule.meaning.split()) in paragraph, code


def test_the_drift_check_can_fail() -> None:
    """A meaning reworded here but not in docs/rules.md is not in its paragraph."""
    _, paragraph = _sections()["D4"]
    assert RULE_BOOK["D4"].meaning.replace("every", "each") not in paragraph


def test_codes_are_ordered_as_the_book_orders_them() -> None:
    assert in_order({"D10", "D2", "R1", "D8", "X9"}) == ["D2", "D8", "D10", "R1", "X9"]


def test_a_code_has_its_meaning_as_a_tooltip() -> None:
    assert str(abbr("D4")).startswith('<abbr title="D4 Integration-user rights in Books: An ')
    assert str(abbr("D4", full=False)) == (
        '<abbr title="D4 Integration-user rights in Books">D4</abbr>'
    )
    assert str(abbr("<b>")) == "&lt;b&gt;"


def test_code_spans_become_code_and_everything_else_is_escaped() -> None:
    assert str(rich("no policy permits `delete` on estimate `est-1`")) == (
        "no policy permits <code>delete</code> on estimate <code>est-1</code>"
    )
    planted = rich("unknown resource `<script>alert(1)</script>` & `a`b`")
    assert "<script>" not in planted
    assert planted == (
        "unknown resource <code>&lt;script&gt;alert(1)&lt;/script&gt;</code> &amp; <code>a</code>b`"
    )
    assert "<abbr" in rich("denied (D4)") and "<abbr" not in rich("ID4 D123 `D4`")
