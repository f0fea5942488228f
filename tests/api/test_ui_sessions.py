"""Admin sessions that end, a login that cannot be guessed at speed, and
nothing of what is served shown before the token is given. Time is a clock the test turns."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from tests.conftest import DEMO
from tests.migration_support import LEGACY

TOKEN = "ui-token-0123456789abcdef"
MINUTE = 60.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "orgs.sqlite3"
    catalogue = load_policies().catalogue
    for text in (DEMO.read_text(), LEGACY.read_text()):
        OrgStore(store).import_snapshot(text, catalogue)
    return store


@pytest.fixture
def guarded(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    """The page alone, with a token and the test's clock (on 3b794ea, where Ui takes no clock,
    the server's own page)."""
    app, state = build(ServeConfig(store=str(_store(tmp_path)), token=TOKEN, reload_interval=0))
    try:
        from suite_authz.server.ui.routes import Ui

        ui = Ui(state, TOKEN, clock=clock)  # type: ignore[call-arg,unused-ignore]
        app = Starlette(routes=ui.routes())
    except TypeError:
        pass
    with TestClient(app) as client:
        yield client


def _sign_in(client: TestClient) -> str:
    ok = client.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert ok.status_code == 303, ok.status_code
    return client.cookies["authz_ui"]


def _in(client: TestClient, cookie: str) -> bool:
    """Whether this cookie, sent by someone else, opens the page."""
    someone = TestClient(client.app, cookies={"authz_ui": cookie})
    return someone.get("/ui/", follow_redirects=False).status_code == 200


def test_each_login_gets_its_own_session_cookie(guarded: TestClient) -> None:
    first = _sign_in(guarded)
    guarded.cookies.clear()
    second = _sign_in(guarded)
    assert first != second, "the same cookie for every login: one stolen opens them all"
    assert TOKEN not in first


def test_a_session_ends_after_30_idle_minutes(guarded: TestClient, clock: Clock) -> None:
    cookie = _sign_in(guarded)
    clock.now += 29 * MINUTE
    assert _in(guarded, cookie)
    clock.now += 30 * MINUTE  # 30 minutes since it was last used
    assert not _in(guarded, cookie)


def test_using_a_session_keeps_it_but_not_an_old_copy_of_its_cookie(
    guarded: TestClient, clock: Clock
) -> None:
    old = _sign_in(guarded)
    for _ in range(4):  # an admin at work: a page every 20 minutes
        clock.now += 20 * MINUTE
        assert guarded.get("/ui/", follow_redirects=False).status_code == 200
    assert guarded.get("/ui/", follow_redirects=False).status_code == 200
    assert not _in(guarded, old), "a copy of the cookie from 80 minutes ago still opens the page"


def test_a_session_ends_after_12_hours_however_busy(guarded: TestClient, clock: Clock) -> None:
    _sign_in(guarded)
    for _ in range(12 * 4 - 1):
        clock.now += 15 * MINUTE
        assert guarded.get("/ui/", follow_redirects=False).status_code == 200
    clock.now += 15 * MINUTE
    page = guarded.get("/ui/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login")


def test_sign_out_ends_the_session_even_for_a_copy_of_its_cookie(guarded: TestClient) -> None:
    cookie = _sign_in(guarded)
    page = guarded.get("/ui/")
    found = CSRF.search(page.text)
    assert found is not None and "Sign out" in page.text, "no sign-out button on the page"
    out = guarded.post("/ui/logout", data={"csrf": found.group(1)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert 'authz_ui=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert not _in(guarded, cookie), "the cookie still opens the page after signing out"
    # signing out again, with no session: back to the login page, naming nothing served
    again = guarded.post("/ui/logout", data={"csrf": found.group(1)})
    assert again.status_code == 200 and "Sign in" in again.text and "demo" not in again.text


def test_sign_out_needs_a_post_with_the_session_s_own_csrf_value(guarded: TestClient) -> None:
    cookie = _sign_in(guarded)
    assert guarded.get("/ui/logout", follow_redirects=False).status_code == 405
    for data, problem in (({}, "csrf: missing"), ({"csrf": "x"}, "csrf: not this session's")):
        page = guarded.post("/ui/logout", data=data, follow_redirects=False)
        assert page.status_code == 400 and problem in html.unescape(page.text)
    # another login's value does not sign this one out
    other = TestClient(guarded.app)
    _sign_in(other)
    theirs = CSRF.search(other.get("/ui/").text)
    assert theirs is not None
    page = guarded.post("/ui/logout", data={"csrf": theirs.group(1)}, follow_redirects=False)
    assert page.status_code == 400
    assert _in(guarded, cookie)


def test_wrong_logins_are_limited_per_client_and_the_right_one_waits_too(
    guarded: TestClient, clock: Clock
) -> None:
    """300 wrong tokens, then the right one: it must not be let in at once."""
    answers = [
        guarded.post("/ui/login", data={"token": f"guess-{n}"}, follow_redirects=False)
        for n in range(300)
    ]
    limited = [a for a in answers if a.status_code == 429]
    assert len(limited) >= 290, [a.status_code for a in answers[:10]]
    assert all(a.status_code in (401, 429) for a in answers)
    wait = int(limited[-1].headers["Retry-After"])
    assert wait >= 1
    right = guarded.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert right.status_code == 429, "a limited client is told nothing about its guess"
    assert "authz_ui" not in guarded.cookies
    # another address is not held up by this one
    elsewhere = TestClient(guarded.app, client=("192.0.2.7", 50000))
    assert elsewhere.post("/ui/login", data={"token": TOKEN}, follow_redirects=False).is_redirect
    clock.now += wait
    right = guarded.post("/ui/login", data={"token": TOKEN}, follow_redirects=False)
    assert right.status_code == 303


def test_a_login_page_names_no_org_and_no_policy_version(guarded: TestClient) -> None:
    """Before the token, nothing of what is served (org ids, the policy version)."""
    app_version = re.compile(r"\b[0-9a-f]{16}\b")
    pages = [
        guarded.get("/ui/login"),
        guarded.post("/ui/login", data={"token": "guess"}),  # 401
        guarded.post("/ui/login", data={"token": "x" * (1 << 20)}),  # 413
    ]
    assert [p.status_code for p in pages] == [200, 401, 413]
    for page in pages:
        text = page.text
        assert "demo" not in text and "legacy" not in text, text
        assert not app_version.search(text), app_version.search(text)
        assert "Policy set" not in text
    inside = guarded.get("/ui/", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "demo" in inside and "Policy set" in inside  # what the test looks for is there


def test_a_forged_or_edited_cookie_opens_nothing(guarded: TestClient, clock: Clock) -> None:
    cookie = _sign_in(guarded)
    payload, mac = cookie.split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["s"] += 3600  # a session made to look fresher than it is
    edited = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    for forged in (f"{edited}.{mac}", f"{payload}.{mac[:-2]}AA", "", ".", "x" * 600, "a.b.c"):
        assert not _in(guarded, forged), forged
    assert _in(guarded, cookie)


def test_a_new_token_ends_every_session(clock: Clock) -> None:
    from suite_authz.server.ui.sessions import Sessions

    secret = b"s" * 32
    cookie = Sessions(secret, "old-token", clock).issue()
    assert Sessions(secret, "old-token", clock).read(cookie) is not None
    assert Sessions(secret, "new-token", clock).read(cookie) is None
    assert Sessions(b"t" * 32, "old-token", clock).read(cookie) is None  # another store


def test_the_login_limit_holds_a_v6_client_by_its_64_and_refuses_when_full(clock: Clock) -> None:
    """An IPv6 host holds a /64: counting by address would give it 2**64 buckets. A table
    full of buckets still refilling refuses a new address rather than forget an old one."""
    from suite_authz.server.ui.sessions import LoginLimit

    limit = LoginLimit(clock, burst=1, refill=10.0, clients=2)
    limit.wrong("2001:db8:1:2::1")
    assert limit.wait("2001:db8:1:2::ffff") == 10, "the same /64 is the same client"
    assert limit.wait("2001:db8:1:3::1") == 0
    limit.wrong("192.0.2.1")
    assert limit.wait("::ffff:192.0.2.1") == 10, "an IPv4 client however it is written"
    assert limit.wait("198.51.100.9") == 10, "a third client while two are held: refused"
    clock.now += 10
    assert limit.wait("198.51.100.9") == 0, "refilled buckets are forgotten to make room"
    limit.right("192.0.2.1")
    assert limit.wait("192.0.2.1") == 0
