"""/ui/diff was a CPU denial of service (49.7 s a look, no cache, no cap, two at
once 72 s while the sidecar's p99 went from 2 to 53 ms). A comparison is made once, one at a
time, off the event loop; a look at one under way is told so instead of starting a second.
Computations are counted and held on events: nothing here is timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from suite_authz.server.main import ServeConfig, build
from suite_authz.server.ui import views
from tests.conftest import DEMO

FROM_2025_05 = "/ui/diff?base=history:2025-05&head=shipped"
BACK = "/ui/diff?base=shipped&head=history:2025-05"
PATIENCE = "patience"  # how the request that starts a comparison waits for it


class Counted:
    """The page's comparison, counted, answering at once with an empty report (what the
    report holds is test_ui.py's); held at a gate until the test opens it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.started = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, *args: object) -> views.PolicyChange:
        if len(args) == 4:  # 3b794ea's (store, base, head, texts)
            base, head = str(args[1]), str(args[2])
        else:
            asked = args[0]
            assert isinstance(asked, views.DiffQuestion)
            base, head = asked.base, asked.head
        self.calls.append((base, head))
        self.started.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return views.PolicyChange(base, head, 0)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counted:
    made = Counted()
    # on 3b794ea, where the route calls views.policy_change itself, this counts the same
    monkeypatch.setattr(views, "policy_change", made)
    return made


def _client(tmp_path: Path, counted: Counted, patience: float | None) -> Iterator[TestClient]:
    store = tmp_path / "orgs.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    app, state = build(ServeConfig(store=str(store), reload_interval=0))
    try:
        from suite_authz.server.ui.diffs import DiffJobs
        from suite_authz.server.ui.routes import Ui

        jobs = DiffJobs(counted, patience=patience)
        app = Starlette(routes=Ui(state, None, diffs=jobs).routes())
    except ImportError:
        pass  # 3b794ea: the server's page as it was
    with TestClient(app) as client:
        yield client


@pytest.fixture
def waiting(tmp_path: Path, counted: Counted) -> Iterator[TestClient]:
    """A look that starts a comparison waits for it."""
    yield from _client(tmp_path, counted, None)


@pytest.fixture
def hurried(tmp_path: Path, counted: Counted) -> Iterator[TestClient]:
    """A look that starts a comparison is answered at once (as one is after its patience)."""
    yield from _client(tmp_path, counted, 0)


def _settled(counted: Counted, client: TestClient) -> None:
    """Wait, on the page's own future, for the comparison under way to be kept."""
    for route in client.app.routes:  # type: ignore[attr-defined]
        owner = getattr(getattr(route, "endpoint", None), "__self__", None)
        jobs = getattr(owner, "diffs", None)
        running = jobs.running() if jobs is not None else None
        if running is not None:
            running.exception(timeout=120)
            return


def test_a_second_look_at_a_comparison_computes_nothing(
    waiting: TestClient, counted: Counted
) -> None:
    first = waiting.get(FROM_2025_05)
    assert first.status_code == 200 and "non-member-gain" in first.text
    again = waiting.get(FROM_2025_05)
    assert again.status_code == 200 and again.text == first.text
    assert counted.calls == [("history:2025-05", "shipped")], counted.calls
    waiting.get(BACK)
    assert len(counted.calls) == 2, "another pair of sides is another comparison"


def test_a_look_at_a_comparison_under_way_waits_for_it_instead_of_starting_another(
    hurried: TestClient, counted: Counted
) -> None:
    counted.gate.clear()
    first = hurried.get(FROM_2025_05)
    assert counted.started.wait(60)
    second = hurried.get(FROM_2025_05)
    assert (first.status_code, second.status_code) == (202, 202), second.status_code
    assert "Being computed" in second.text and 'http-equiv="refresh"' in second.text
    other = hurried.get(BACK)  # one comparison at a time: this one is told to come back
    assert other.status_code == 503 and other.headers["Retry-After"]
    assert "Another comparison" in other.text and 'http-equiv="refresh"' in other.text
    assert len(counted.calls) == 1, counted.calls
    counted.gate.set()
    _settled(counted, hurried)
    done = hurried.get(FROM_2025_05)
    assert done.status_code == 200 and "non-member-gain" in done.text
    assert len(counted.calls) == 1, counted.calls


def test_the_event_loop_answers_while_a_comparison_is_made(
    hurried: TestClient, counted: Counted
) -> None:
    """Held at the gate, the comparison must not hold the pages (nor the sidecar) with it."""
    counted.gate.clear()
    looked = threading.Thread(target=hurried.get, args=(FROM_2025_05,))
    looked.start()
    assert counted.started.wait(60)
    try:
        assert hurried.get("/ui/diff").status_code == 200
        assert hurried.get("/ui/orgs/demo/matrix?module=estimate").status_code == 200
    finally:
        counted.gate.set()
        looked.join()


def test_a_comparison_is_made_again_when_a_served_org_changes(
    waiting: TestClient, counted: Counted, tmp_path: Path
) -> None:
    waiting.get(FROM_2025_05)
    store = OrgStore(tmp_path / "orgs.sqlite3")
    changed = DEMO.read_text().replace('"Demo', '"Demo, renamed', 1)
    assert changed != DEMO.read_text()
    store.import_snapshot(changed, load_policies().catalogue)
    waiting.get(FROM_2025_05)
    assert len(counted.calls) == 2, "a cached answer for an org that changed since"
