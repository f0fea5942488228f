"""The admin page for an admin, in headless Chromium: rule codes with their meaning, who each
row is, one user's every record (Dana's own pending invoice, D8), explanation text with code
spans, the developer's view folded until opened; axe-core clean on each."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import axe_violations, dumps

pytestmark = pytest.mark.slow


def test_the_legend_and_each_code_s_tooltip_give_the_rule_s_meaning(page: Any) -> None:
    page.goto("/ui/orgs/demo/matrix?module=estimate")
    code = page.locator('td[data-cell="asha/delete/estimate"] abbr', has_text="D4")
    assert code.get_attribute("title") == "D4 Integration-user rights in Books"
    legend = page.get_by_role("region", name="Legend")
    term = legend.locator("#rule-D4")
    assert term.inner_text() == "D4 Integration-user rights in Books"
    assert "may view, create and edit records of every Books finance module" in (
        term.locator("xpath=following-sibling::dd[1]").inner_text()
    )
    assert "every Books finance module" in (term.locator("abbr").get_attribute("title") or "")
    # a cell's aria-label hides the tooltip from a screen reader: the legend describes it
    link = page.get_by_role("link", name="asha delete estimate: deny D4", exact=True)
    described = link.get_attribute("aria-describedby")
    assert described == "rule-D4" and page.locator(f"#{described}").is_visible()
    assert axe_violations(page) == [], dumps(axe_violations(page))


def test_a_row_shows_seat_role_and_crm_profile(page: Any) -> None:
    page.goto("/ui/orgs/demo/matrix?module=estimate")
    chen = page.get_by_role("rowheader", name="chen").inner_text()
    assert "Books: member, role books-clerk" in chen and "Subscriptions: none" in chen
    assert "CRM profile finance" in chen
    eli = page.get_by_role("rowheader", name="eli").inner_text()
    assert "Books: integration user" in eli and "Subscriptions: integration user" in eli
    header = page.get_by_role("columnheader", name="estimate").inner_text()
    assert "asks about est-1 (status draft)" in header


def test_dana_s_invoices_one_by_one_from_her_row(page: Any) -> None:
    """The matrix's invoice column asks about inv-1 (approved); Dana's own view shows inv-2,
    pending approval and submitted by her, which she may not approve (D8)."""
    page.goto("/ui/orgs/demo/matrix?module=invoice")
    page.get_by_role("rowheader", name="dana").get_by_role("link", name="dana").click()
    page.get_by_role("heading", name="demo: what dana can do with each invoice").wait_for()
    inv2 = page.get_by_role("row", name="inv-2")
    cells = inv2.get_by_role("cell").all_inner_texts()
    assert cells[:2] == ["pending_approval", "dana"]
    approve = page.locator('td[data-cell="inv-2/approve"]')
    assert "deny" in (approve.get_attribute("class") or "") and "D8" in approve.inner_text()
    assert page.get_by_role("row", name="inv-1").get_by_role("cell").all_inner_texts()[:2] == [
        "approved",
        "fay",
    ]
    assert "member, role books-approver" in page.locator("dl.who").inner_text()
    assert axe_violations(page) == [], dumps(axe_violations(page))
    approve.get_by_role("link").click()  # the same dialog as the matrix's cells
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert "✗ Deny: dana approve invoice:inv-2" in dialog.inner_text()


def test_explanation_text_shows_code_spans_as_code(page: Any) -> None:
    page.goto("/ui/orgs/demo/explain?subject=asha&action=delete&resource=estimate:est-1")
    why = page.locator("section.result dd").filter(has_text="no policy permits")
    assert why.inner_text() == "no policy permits delete on estimate est-1 for asha"
    assert why.locator("code").all_inner_texts() == ["delete", "est-1", "asha"]
    assert axe_violations(page) == [], dumps(axe_violations(page))


def test_the_developer_s_view_is_folded_until_opened(page: Any) -> None:
    page.goto("/ui/orgs/demo/explain?subject=chen&action=view&resource=item:item-1")
    as_json, as_command = page.locator("#as-json"), page.locator("#as-command")
    assert not as_json.is_visible() and not as_command.is_visible()
    page.get_by_text("For developers").click()
    assert as_json.is_visible() and as_command.is_visible()
    assert '"type": "item"' in as_json.inner_text()
    assert "authz explain --org demo" in as_command.inner_text()
    assert axe_violations(page) == [], dumps(axe_violations(page))
    page.goto("/ui/orgs/demo/matrix?module=item")
    page.locator('td[data-cell="chen/view/item"]').get_by_role("link").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert not dialog.locator("#as-json").is_visible()
    dialog.get_by_text("For developers").click()
    assert dialog.locator("#as-json").is_visible()
    assert axe_violations(page) == [], dumps(axe_violations(page))


def test_a_record_s_id_opens_every_user_s_decisions_on_it(page: Any) -> None:
    """inv-1, the invoice columns' first record, is approved already: nobody may approve it.
    inv-2, picked from Dana's view, is pending: Olivia may approve it, Dana may not (D8)."""
    page.goto("/ui/orgs/demo/users/dana?module=invoice")
    page.get_by_role("rowheader", name="inv-2").get_by_role("link", name="inv-2").click()
    page.wait_for_url("**/matrix?module=invoice&channel=crm&record=inv-2")
    header = page.get_by_role("columnheader", name="invoice").inner_text()
    assert "asks about inv-2 (status pending_approval)" in header
    olivia = page.locator('td[data-cell="olivia/approve/invoice"]')
    assert "allow" in (olivia.get_attribute("class") or "")
    dana = page.locator('td[data-cell="dana/approve/invoice"]')
    assert "deny" in (dana.get_attribute("class") or "") and "D8" in dana.inner_text()
    page.get_by_role("columnheader", name="invoice").get_by_role("link", name="inv-1").click()
    page.wait_for_url("**record=inv-1")
    olivia = page.locator('td[data-cell="olivia/approve/invoice"]')
    assert "deny" in (olivia.get_attribute("class") or "")
    assert axe_violations(page) == [], dumps(axe_violations(page))
