"""`/ui/orgs/demo/explain?subject=asha` (a field missing) or `resource=::::` was a
500 with a traceback. Every form or query field of the page, missing or malformed, is a 400
page that names the field as the form names it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.conftest import DEMO
from tests.migration_support import LEGACY

EXPLAIN = "/ui/orgs/demo/explain?"
ASK = "subject=asha&action=view&resource=estimate:est-1"


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    store = tmp_path_factory.mktemp("fields") / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    for text in (DEMO.read_text(), LEGACY.read_text()):
        OrgStore(store).import_snapshot(text, catalogue)
    app, _ = build(ServeConfig(store=str(store), reload_interval=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _problem(page_text: str) -> str:
    found = re.search(r'class="problem"[^>]*>(.*?)</p>', page_text, re.S)
    # the explain page shows code spans as code: read them back as the message spells them
    return html.unescape(re.sub(r"</?code>", "`", found.group(1))) if found else ""


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("subject=asha", "action: missing"),
        ("subject=asha&action=view", "resource: missing"),
        ("action=view&resource=estimate:est-1", "subject: missing"),
        ("resource=estimate:est-1", "subject: missing"),
        ("subject=asha&action=view&resource=::::", "resource: `::::` is not a record"),
        ("subject=asha&action=view&resource=:", "resource: `:` is not a record"),
        ("subject=asha&action=view&resource=estimate:", "resource: `estimate:` is not a record"),
        (ASK + "&channel=fax", "channel: `fax` is not one of crm, direct"),
    ],
)
def test_an_explain_field_missing_or_malformed_is_a_400_naming_it(
    ui: TestClient, query: str, named: str
) -> None:
    page = ui.get(EXPLAIN + query)
    assert page.status_code == 400, (page.status_code, page.text[-300:])
    assert named in _problem(page.text), _problem(page.text)
    assert "Traceback" not in page.text


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/ui/orgs/demo/matrix?seat=boss", "seat: `boss` is not one of member, integration, none"),
        ("/ui/orgs/demo/matrix?product=crm", "product: `crm` is not one of books, subscriptions"),
        ("/ui/orgs/demo/matrix?role=pope", "role: `pope` is not one of"),
        ("/ui/orgs/demo/matrix?profile=nobody", "profile: `nobody` is not one of"),
        ("/ui/orgs/demo/matrix?page=0", "page: `0` is not a page"),
        ("/ui/orgs/demo/matrix?page=-3", "page: `-3` is not a page"),
        ("/ui/orgs/demo/matrix?page=" + "9" * 5000, "page: `" + "9" * 5000 + "` is not a number"),
        ("/ui/diff?base=shipped", "head: missing"),
        ("/ui/diff?head=shipped", "base: missing"),
        ("/ui/diff?base=store:zz&head=shipped", "`zz`"),
        ("/ui/orgs/legacy/migration?as_of=2026-02-30", "as_of: `2026-02-30` is not a date"),
    ],
)
def test_every_other_field_missing_or_malformed_is_a_400_naming_it(
    ui: TestClient, path: str, named: str
) -> None:
    page = ui.get(path)
    assert page.status_code == 400, (page.status_code, page.text[-300:])
    assert named in _problem(page.text), _problem(page.text)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"as_of": "tomorrow"}, "as_of: `tomorrow` is not a date"),
        ({"usage": "user,module\nasha"}, "header must be user,product,module,events,last_used"),
    ],
)
def test_a_migration_form_field_malformed_is_a_400_naming_it(
    ui: TestClient, form: dict[str, str], named: str
) -> None:
    page = ui.post("/ui/orgs/legacy/migration", data=form)
    assert page.status_code == 400, page.status_code
    assert named in _problem(page.text), _problem(page.text)


def test_a_form_that_is_not_utf8_is_a_400_saying_so(ui: TestClient) -> None:
    page = ui.post(
        "/ui/orgs/legacy/migration",
        content=b"usage=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 400 and "the form is not UTF-8" in _problem(page.text)
