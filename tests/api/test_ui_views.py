"""The admin page for an admin, without a browser: what a rule code means, who each row is,
which record a column asks about, one user's every record, explanation text as HTML, the
developer's view folded away; bad input on the per-user view named, never a 500."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from suite_authz.server.ui.rules import RULE_BOOK
from tests.api.conftest import evaluation
from tests.api.test_ui import _client
from tests.conftest import DEMO

ROW = re.compile(r'<th scope="row"><a class="user" href="([^"]+)">([^<]+)</a>(.*?)</th>', re.S)
CELL = re.compile(r'<td class="(allow|deny)" data-cell="([^"]+)"><a href="[^"]+"[^>]*>(.*?)</a>')
PLANTED = "est-<script>alert(1)</script>`x"


@pytest.fixture
def open_ui(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, None)


def _rows(page: str) -> dict[str, tuple[str, str]]:
    """user -> (the link to their records, the rest of the row header as text)."""
    return {
        user: (html.unescape(link), " ".join(re.sub(r"<[^>]+>", " ", rest).split()))
        for link, user, rest in ROW.findall(page)
    }


def test_each_row_shows_the_user_s_seat_per_product_role_and_crm_profile(
    open_ui: TestClient,
) -> None:
    rows = _rows(open_ui.get("/ui/orgs/demo/matrix?module=estimate").text)
    assert rows["chen"][1] == (
        "Chen Books: member, role books-clerk Subscriptions: none CRM profile finance"
    )
    assert "Books: integration user Subscriptions: integration user" in rows["eli"][1]
    assert "Books: none Subscriptions: none CRM profile sales" in rows["ben"][1]
    assert "Subscriptions: member, role subscriptions-admin" in rows["olivia"][1]


def test_every_code_in_a_cell_has_its_meaning_as_a_tooltip_and_in_the_legend(
    open_ui: TestClient,
) -> None:
    page = open_ui.get("/ui/orgs/demo/matrix?module=invoice").text
    shown = {c for _, _, inner in CELL.findall(page) for c in re.findall(r">([DR]\d+)<", inner)}
    assert {"D1", "D2", "D4", "D6", "D8"} <= shown
    for code in shown:
        rule = RULE_BOOK[code]
        tooltips = set(re.findall(rf'<abbr title="([^"]+)">{code}</abbr>', page))
        assert {html.unescape(t) for t in tooltips} == {rule.short, rule.full}, code
        legend = re.search(rf'<dt id="rule-{code}">(.*?)</dt>\s*<dd>(.*?)</dd>', page)
        assert legend and rule.title in html.unescape(legend.group(1)), code
        meaning = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"</?code>", "`", legend.group(2))))
        assert meaning == rule.meaning, code
    # the legend explains what the page shows, not the whole book
    assert 'id="rule-D12"' not in page
    # the link's aria-label hides the tooltip from a screen reader: the legend describes it
    cell = re.search(r'data-cell="asha/edit/invoice"><a [^>]*aria-label="([^"]+)" '
                     r'aria-describedby="([^"]+)"', page)  # fmt: skip
    assert cell and cell.groups() == ("asha edit invoice: allow D4 D8", "rule-D4 rule-D8")


def test_a_column_says_which_record_it_asks_about_and_rows_lead_to_every_record(
    open_ui: TestClient,
) -> None:
    page = open_ui.get("/ui/orgs/demo/matrix?module=estimate").text
    assert "asks about <strong>est-1</strong> (status draft)" in page
    link, _ = _rows(page)["asha"]
    assert link == "/ui/orgs/demo/users/asha?module=estimate&channel=crm"
    assert open_ui.get(link).status_code == 200
    every = open_ui.get("/ui/orgs/demo/matrix?module=").text  # every module: links to the first
    assert _rows(every)["asha"][0] == "/ui/orgs/demo/users/asha?module=estimate&channel=crm"
    assert "asks about <strong>inv-1</strong> (status approved)" in every


def _record_cells(page: str) -> dict[str, tuple[str, str]]:
    """`inv-2/approve` -> (allow|deny, the codes shown)."""
    return {
        where: (shown, " ".join(re.findall(r">([DR]\d+)<", inner)))
        for shown, where, inner in CELL.findall(page)
    }


def test_one_user_s_every_record_with_status_submitter_and_decisions(
    open_ui: TestClient,
) -> None:
    """Dana, a Books approver, may not approve the invoice she submitted herself (D8), while
    the matrix's column (inv-1, approved) says nothing of it."""
    page = open_ui.get("/ui/orgs/demo/users/dana?module=invoice").text
    rows = re.findall(
        r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>\s*<td class="status">(\w+)</td>\s*'
        r'<td class="submitter">(\w+)</td>',
        page,
    )
    assert rows == [("inv-1", "approved", "fay"), ("inv-2", "pending_approval", "dana")]
    cells = _record_cells(page)
    assert cells["inv-2/approve"] == ("deny", "D8")
    assert cells["inv-1/view"] == ("allow", "D6")
    assert len(cells) == 2 * 8  # every action but create, which asks about no record
    assert 'id="create-answer" class="allow"' in page
    assert "Books</dt><dd>member, role books-approver" in page
    assert "CRM profile</dt><dd>finance" in page


def test_a_column_asks_about_another_record_when_picked_and_a_record_leads_there(
    open_ui: TestClient,
) -> None:
    """The invoice columns ask about inv-1, approved already: nobody may approve it (D8).
    From Dana's invoices, inv-2's id opens every user's decisions on inv-2, pending: Olivia
    may approve it, Dana, who submitted it, may not."""
    first = open_ui.get("/ui/orgs/demo/matrix?module=invoice").text
    assert _record_cells(first)["olivia/approve/invoice"] == ("deny", "D8")
    assert 'ask about <a href="?module=invoice&amp;channel=crm&amp;record=inv-2">inv-2</a>' in first
    mine = open_ui.get("/ui/orgs/demo/users/dana?module=invoice").text
    link = re.search(r'<th scope="row"><a href="([^"]+)">inv-2</a>', mine)
    assert link and html.unescape(link.group(1)) == (
        "/ui/orgs/demo/matrix?module=invoice&channel=crm&record=inv-2"
    )
    picked = open_ui.get(html.unescape(link.group(1))).text
    assert "asks about <strong>inv-2</strong> (status pending_approval)" in picked
    assert _record_cells(picked)["olivia/approve/invoice"] == ("allow", "D6 D8")
    assert _record_cells(picked)["dana/approve/invoice"] == ("deny", "D8")
    assert "resource=invoice%3Ainv-2" in picked


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/ui/orgs/demo/matrix?module=invoice&record=est-1",
            "record: `est-1` is not a record of module `invoice` in org `demo`",
        ),
        ("/ui/orgs/demo/matrix?module=&record=inv-1", "record: `inv-1` needs a module"),
    ],
)
def test_a_record_the_module_does_not_hold_is_a_400_page_naming_it(
    open_ui: TestClient, path: str, message: str
) -> None:
    page = open_ui.get(path)
    assert page.status_code == 400 and message in html.unescape(page.text)


@pytest.mark.parametrize("channel", ["crm", "direct"])
def test_every_cell_of_the_per_user_view_is_the_sidecar_s_own_answer(
    open_ui: TestClient, channel: str
) -> None:
    for user in ("asha", "dana"):
        page = open_ui.get(f"/ui/orgs/demo/users/{user}?module=invoice&channel={channel}").text
        for where, (shown, _) in _record_cells(page).items():
            record, action = where.split("/")
            ask = evaluation(user, action, f"invoice:{record}")
            ask["context"] = {"org": "demo", "channel": channel}
            answer = open_ui.post("/access/v1/evaluation", json=ask).json()
            assert (shown == "allow") is answer["decision"], (user, where, channel)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/ui/orgs/demo/users/dan",
            "user: `dan` is not a user of org `demo`; did you mean `dana`?",
        ),
        ("/ui/orgs/demo/users/zed", "user: `zed` is not a user of org `demo`"),
        ("/ui/orgs/demo/users/dana?module=widget", "module: `widget` is not a module"),
        ("/ui/orgs/demo/users/dana?page=two", "page: `two` is not a number"),
        ("/ui/orgs/demo/users/dana?page=0", "page: `0` is not a page"),
        ("/ui/orgs/demo/users/dana?page=2", "page: `2` is past the last page (1)"),
        ("/ui/orgs/demo/users/dana?channel=fax", "channel: `fax` is not one of crm, direct"),
        ("/ui/orgs/nope/users/dana", "org `nope`: not served here"),
        ("/ui/orgs/demo/users/%3Cb%3Ex", "user: `<b>x` is not a user of org `demo`"),
    ],
)
def test_bad_input_on_the_per_user_view_is_a_400_page_naming_it(
    open_ui: TestClient, path: str, message: str
) -> None:
    page = open_ui.get(path)
    assert page.status_code == 400 and message in html.unescape(page.text)
    assert "<b>x" not in page.text


def test_a_record_id_with_markup_or_backticks_is_text_everywhere(tmp_path: Path) -> None:
    """Explanation text is escaped first and its code spans made after: a record id can end a
    code span early (a backtick) but never open a tag."""
    data = json.loads(DEMO.read_text())
    data["records"].append({"id": PLANTED, "type": "estimate"})
    client = next(_client(tmp_path, None, json.dumps(data)))
    resource = f"estimate:{PLANTED}"
    explained = client.get(
        "/ui/orgs/demo/explain",
        params={"subject": "asha", "action": "delete", "resource": resource},
    )
    records = client.get("/ui/orgs/demo/users/asha?module=estimate")
    for page in (explained, records):
        assert page.status_code == 200
        assert "<script>" not in page.text and "alert(1)</script>" not in page.text
    assert "<code>est-&lt;script&gt;alert(1)&lt;/script&gt;</code>x" in explained.text
    assert f">{html.escape(PLANTED, quote=False)}</a></th>" in records.text


def test_explanation_text_shows_code_spans_as_code(open_ui: TestClient) -> None:
    page = open_ui.get(
        "/ui/orgs/demo/explain?subject=asha&action=delete&resource=estimate:est-1"
    ).text
    assert "no policy permits <code>delete</code> on estimate <code>est-1</code>" in page
    assert "`" not in re.sub(
        r"<details.*?</details>", "", page.split('class="result"')[1], flags=re.S
    )


def test_the_authzen_json_and_command_line_are_folded_under_for_developers(
    open_ui: TestClient,
) -> None:
    for fragment in ("", "&fragment=1"):
        page = open_ui.get(
            f"/ui/orgs/demo/explain?subject=chen&action=view&resource=item:item-1{fragment}"
        ).text
        folded = re.search(r"<details class=\"developers\">\s*<summary>(.*?)</summary>(.*?)"
                           r"</details>", page, re.S)  # fmt: skip
        assert folded and folded.group(1).startswith("For developers")
        assert 'id="as-json"' in folded.group(2) and 'id="as-command"' in folded.group(2)
        assert page.count('id="as-json"') == 1  # nowhere else


def test_a_user_id_with_a_slash_opens_its_own_records(tmp_path: Path) -> None:
    """Ids are opaque: `sales/asha` is one user, linked as `sales%2Fasha`."""
    data = json.loads(DEMO.read_text())
    data["users"][0]["id"] = "sales/asha"
    client = next(_client(tmp_path, None, json.dumps(data)))
    link, _ = _rows(client.get("/ui/orgs/demo/matrix?module=estimate").text)["sales/asha"]
    assert link.startswith("/ui/orgs/demo/users/sales%2Fasha?")
    page = client.get(link)
    assert page.status_code == 200 and "what sales/asha can do with each estimate" in page.text


def test_the_pager_links_every_other_page_with_the_views_own_query() -> None:
    """The matrix and the per-user view page through one macro: each page but the current is
    a link keeping the view's query, the current one is marked, and one page shows none."""
    from suite_authz.server.ui.routes import Ui

    templates = Ui(None, None).templates  # type: ignore[arg-type]  # no state: templates only
    call = '{% from "parts.html" import pager %}{{ pager("Pages of users", N, 2, params) }}'
    three = templates.from_string(call).render(N=3, params={"module": "estimate", "seat": "x"})
    assert 'aria-label="Pages of users"' in three
    assert '<span aria-current="page">2</span>' in three
    for n in (1, 3):
        assert f'href="?module=estimate&amp;seat=x&amp;page={n}"' in three
    assert templates.from_string(call).render(N=1, params={}).strip() == ""
