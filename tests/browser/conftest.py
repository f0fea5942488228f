"""Headless Chromium (Debian's package, driven by Playwright; no browser is downloaded) against
a real `authz serve` on loopback. Skipped, saying so, only when Chromium is not installed
(`.ci/run` installs it); each failing test leaves a screenshot in tests/browser/failures/."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.processes import serving
from tests.conftest import DEMO, ROOT
from tests.migration_support import LEGACY

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
FAILURES = Path(__file__).parent / "failures"
TOKEN = "browser-token-0123456789"
# as the machine's notes advise: no background traffic to hosts this machine cannot reach
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo and legacy orgs in a store, served with a token."""
    tmp = tmp_path_factory.mktemp("browser")
    store = tmp / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    for org in (DEMO, LEGACY):
        OrgStore(store).import_snapshot(org.read_text(), catalogue)
    token = tmp / "token"
    token.write_text(TOKEN)
    token.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with serving("--store", str(store), "--token-file", str(token)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run does)")
    if not AXE.is_file() and os.environ.get("AUTHZ_NO_NODE"):
        pytest.skip("node/npm not found, so axe-core is not installed (make test said so)")
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make test` installs it (cd tools/axe && npm ci)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A signed-in page (through the login form, as an admin would)."""
    # bypass_csp: only so that axe-core can be injected; the header is tested in tests/api
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, base_url=server, bypass_csp=True
    )
    tab = context.new_page()
    tab.goto("/ui/")
    tab.get_by_label("Token").fill(TOKEN)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/ui/")
    yield tab
    if request.node.stash.get(FAILED, False):
        FAILURES.mkdir(exist_ok=True)
        tab.screenshot(path=str(FAILURES / f"{request.node.name}.png"), full_page=True)
    context.close()


def axe_violations(tab: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    tab.add_script_tag(content=AXE.read_text())
    found = tab.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1)
