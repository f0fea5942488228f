"""The admin page under /ui/, without a browser: access, what it computes, bad input, escaping.
(tests/browser/ drives it in Chromium.)"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store import StoreUnreachable
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.ui import views
from suite_authz.server.ui.diffs import DiffJobs
from suite_authz.server.ui.routes import Ui
from tests.api.conftest import evaluation
from tests.conftest import DEMO
from tests.migration_support import LEGACY, USAGE

TOKEN = "ui-token-0123456789abcdef"
CELL = re.compile(r'<td class="(allow|deny)" data-cell="([^"]+)"><a href="([^"]+)"')


def _store(tmp_path: Path, *orgs: str) -> Path:
    store = tmp_path / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    for text in orgs or (DEMO.read_text(), LEGACY.read_text()):
        OrgStore(store).import_snapshot(text, catalogue)
    return store


def _client(tmp_path: Path, token: str | None, *orgs: str) -> Iterator[TestClient]:
    store = _store(tmp_path, *orgs)
    app, _ = build(ServeConfig(store=str(store), token=token, reload_interval=0))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def open_ui(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, None)


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, TOKEN)


def test_every_cell_is_the_sidecar_s_own_answer(open_ui: TestClient) -> None:
    """All 72 cells of the demo org's estimate matrix (8 users x 9 actions), from the CRM and
    directly, each asked again of /access/v1/evaluation."""
    for channel in ("crm", "direct"):
        page = open_ui.get(f"/ui/orgs/demo/matrix?module=estimate&channel={channel}")
        assert page.status_code == 200
        cells = CELL.findall(page.text)
        assert len(cells) == 72
        for shown, where, _ in cells:
            user, action, module = where.split("/")
            record = None if action == "create" else "est-1"
            ask = evaluation(user, action, f"{module}:{record}" if record else module)
            ask["context"] = {"org": "demo", "channel": channel}
            answer = open_ui.post("/access/v1/evaluation", json=ask).json()
            assert (shown == "allow") is answer["decision"], (where, channel)


def test_the_worked_examples_show_as_the_rule_book_says(open_ui: TestClient) -> None:
    page = open_ui.get("/ui/orgs/demo/matrix?module=estimate").text
    cell = re.search(r'data-cell="asha/delete/estimate"><a[^>]*>(.*?)</a>', page)
    assert cell and "✗" in cell.group(1) and "D4" in cell.group(1)
    page = open_ui.get("/ui/orgs/demo/matrix?module=item").text
    cell = re.search(r'<td class="allow" data-cell="chen/view/item"><a[^>]*>(.*?)</a>', page)
    assert cell and "◐" in cell.group(1)  # fields hidden
    explained = open_ui.get(
        "/ui/orgs/demo/explain?subject=chen&action=view&resource=item:item-1"
    ).text
    assert "✓ Allow" in explained and "cost_price" in explained
    asked_again = re.search(r"authz explain --org demo --store (\S+) --subject chen --action view",
                            html.unescape(explained))  # fmt: skip
    assert asked_again is not None, "the command line names the server's store"


def test_explain_names_what_is_wrong_with_did_you_mean(open_ui: TestClient) -> None:
    page = open_ui.get(
        "/ui/orgs/demo/explain?subject=asha&action=edit&resource=invoice:inv-1&fields=Discount"
    )
    assert page.status_code == 400
    assert "did you mean <code>discount</code>?" in page.text  # a code span, shown as code
    page = open_ui.get("/ui/orgs/demo/explain?subject=zed&action=view&resource=estimate:est-1")
    # the reason's code spans are shown as code
    assert page.status_code == 200 and "unknown subject <code>zed</code>" in page.text


def test_explain_of_an_unknown_id_says_which_known_one_is_close(open_ui: TestClient) -> None:
    page = open_ui.get("/ui/orgs/demo/explain?subject=ashaa&action=view&resource=estimate:est-1")
    assert page.status_code == 200
    assert (
        "unknown subject <code>ashaa</code>: org <code>demo</code> has no such user; "
        "did you mean <code>asha</code>?"
    ) in page.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/ui/orgs/nope/matrix", "org `nope`: not served here"),
        ("/ui/orgs/demo/matrix?channel=fax", "channel: `fax` is not one of crm, direct"),
        ("/ui/orgs/demo/matrix?module=widget", "module: `widget` is not a module"),
        ("/ui/orgs/demo/matrix?page=two", "page: `two` is not a number"),
        ("/ui/diff?base=history:nope&head=shipped", "`history:nope`: no such set in the shipped"),
        ("/ui/diff?base=/etc&head=shipped", "`/etc`: not a policy set to compare"),
        ("/ui/orgs/legacy/migration?as_of=soon", "as_of: `soon` is not a date"),
    ],
)
def test_bad_input_is_a_400_page_naming_it(open_ui: TestClient, path: str, message: str) -> None:
    page = open_ui.get(path)
    assert page.status_code == 400 and message in html.unescape(page.text)


def test_a_store_that_does_not_answer_is_a_503_page_not_a_400(
    open_ui: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the API answers it: nothing was wrong with what was asked, try again."""

    def away(*_: object) -> None:
        raise StoreUnreachable("postgresql://db/authz: cannot read the store: timeout")

    monkeypatch.setattr("suite_authz.server.ui.views.sides", away)
    page = open_ui.get("/ui/diff")
    assert page.status_code == 503, page.status_code
    assert page.headers["Retry-After"] == "5"
    assert "cannot read the store" in html.unescape(page.text)


def test_a_page_needs_the_token_and_the_login_sets_a_cookie_for_the_page_only(
    guarded: TestClient,
) -> None:
    page = guarded.get("/ui/orgs/demo/matrix?module=estimate", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/ui/login?next=")
    wrong = guarded.post("/ui/login?next=/ui/", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "That is not the token." in wrong.text
    assert "authz_ui" not in guarded.cookies
    bearer = guarded.get("/ui/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert bearer.status_code == 200
    ok = guarded.post(
        "/ui/login?next=https://elsewhere.example/", data={"token": TOKEN}, follow_redirects=False
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/ui/"  # never off-site
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert TOKEN not in cookie
    assert guarded.get("/ui/orgs/demo/matrix").status_code == 200
    # the page's cookie opens the page, never the API
    ask = evaluation("asha", "view", "estimate:est-1")
    assert guarded.post("/access/v1/evaluation", json=ask).status_code == 401


def test_a_form_larger_than_any_body_may_be_is_refused_whole(guarded: TestClient) -> None:
    big = {"usage": "x" * (1 << 20), "as_of": "2026-11-25"}
    page = guarded.post(
        "/ui/orgs/legacy/migration", data=big, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert page.status_code == 413 and "larger than" in page.text
    login = guarded.post("/ui/login", data={"token": "x" * (1 << 20)})
    assert login.status_code == 413 and "authz_ui" not in guarded.cookies


def test_the_short_addresses_lead_to_the_pages(open_ui: TestClient) -> None:
    assert open_ui.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    home = open_ui.get("/ui/orgs/demo/", follow_redirects=False)
    assert home.headers["location"] == "/ui/orgs/demo/matrix"
    assert "demo: who can do what" in open_ui.get("/ui/orgs/demo/").text


def test_what_an_org_holds_is_escaped_and_nothing_loads_from_elsewhere(tmp_path: Path) -> None:
    data = json.loads(DEMO.read_text())
    data["users"][0]["name"] = '<script>alert("x")</script>'
    data["name"] = "<img src=x onerror=alert(1)>"
    client = next(_client(tmp_path, None, json.dumps(data)))
    for path in ("/ui/", "/ui/orgs/demo/matrix", "/ui/orgs/demo/explain?subject=asha&action=view"
                 "&resource=estimate:est-1&sender=%3Cb%3Ex%3C/b%3E"):  # fmt: skip
        page = client.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<b>x</b>" not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert not re.search(r'(src|href)="(https?:)?//', page.text), path
    assert client.get("/ui/static/ui.css").status_code == 200


def test_the_policy_change_page_finds_the_d4_widening(tmp_path: Path) -> None:
    """The page alone, waiting for the comparison it starts (a server shows a progress page
    after a second and a half: tests/api/test_ui_diff.py)."""
    _, state = build(ServeConfig(store=str(_store(tmp_path)), reload_interval=0))
    ui = Ui(state, None, diffs=DiffJobs(views.policy_change, patience=None))
    open_ui = TestClient(Starlette(routes=ui.routes()))
    offered = open_ui.get("/ui/diff")
    assert offered.status_code == 200 and "history:2025-05" in offered.text
    page = open_ui.get("/ui/diff?base=history:2025-05&head=shipped").text
    assert "non-member-gain</strong>: a user with no finance membership gains" in page
    gains = page.split('id="gains"')[1].split('id="losses"')[0]
    assert "integration user of Books" in gains and "D4" in gains


def test_the_migration_page_shows_plan_impact_and_the_command_and_changes_nothing(
    open_ui: TestClient,
) -> None:
    page = open_ui.post(
        "/ui/orgs/legacy/migration", data={"usage": USAGE.read_text(), "as_of": "2026-11-25"}
    )
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Who loses the rights they borrowed from olga" in text
    assert re.search(r"<th scope=\"row\">sam</th><td>books</td><td[^>]*>enrol</td>", text)
    assert "authz migrate apply --org legacy --plan plan.json" in text
    ready = open_ui.get("/readyz").json()
    assert ready["orgs"]["legacy"] == 1  # still as it was


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_page_reads_the_bearer_scheme_in_any_case_as_the_api_does(
    guarded: TestClient, scheme: str
) -> None:
    """RFC 7235 2.1: the scheme is case-insensitive; the API and the page share one check."""
    page = guarded.get(
        "/ui/orgs/demo/matrix",
        headers={"Authorization": f"{scheme} {TOKEN}"},
        follow_redirects=False,
    )
    assert page.status_code == 200 and "asha" in page.text
    wrong = guarded.get(
        "/ui/", headers={"Authorization": f"{scheme} {TOKEN}x"}, follow_redirects=False
    )
    assert wrong.status_code == 303  # to the login page
    other = guarded.get("/ui/", headers={"Authorization": f"Basic {TOKEN}"}, follow_redirects=False)
    assert other.status_code == 303
