"""Pushed changes: what a PostgreSQL store announces, and when the reload watcher polls."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from suite_authz.engine.core.policies import PolicySet
from suite_authz.engine.core.policy_files import read_source
from suite_authz.engine.migration.apply import apply_plan
from suite_authz.engine.store import OrgStore, StoreUnreachable, activate_policy_version
from suite_authz.engine.store import publish_policies as publish
from suite_authz.server import change_feed
from suite_authz.server.change_feed import ChangeFeed
from tests.conftest import DEMO, POLICIES
from tests.migration_support import LEGACY, legacy_plan


def _heard(store: OrgStore) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while got := store.db.changes(0.2):  # type: ignore[attr-defined]
        out += [c for c in got if "reconnected" not in c]
    return out


def test_every_write_is_announced_once_it_commits_and_a_rollback_never(
    postgres_url: str, policies: PolicySet
) -> None:
    listener, writer = OrgStore(postgres_url), OrgStore(postgres_url)
    assert listener.db.changes(0.1) == [{"reconnected": True}]  # type: ignore[attr-defined]
    writer.import_snapshot(DEMO.read_text(), policies.catalogue)
    writer.import_snapshot(LEGACY.read_text(), policies.catalogue)
    version = publish(writer, read_source(POLICIES), "test")
    activate_policy_version(writer, version, "test")
    apply_plan(writer, policies, legacy_plan(writer, policies), "olga")
    schema = listener.db.schema  # type: ignore[attr-defined]
    assert _heard(listener) == [
        {"org": "demo", "version": 1, "schema": schema},
        {"org": "legacy", "version": 1, "schema": schema},
        {"policy": version, "schema": schema},
        {"policy": version, "schema": schema},
        {"org": "legacy", "version": 2, "schema": schema},
    ]
    data = json.loads(DEMO.read_text())
    data["name"] = "never stored"
    with pytest.raises(RuntimeError), writer.transaction() as tx:
        writer.replace_snapshot(tx, "demo", json.dumps(data), 1)
        raise RuntimeError("rolled back")
    assert _heard(listener) == [] and writer.version("demo") == 1


def test_another_schema_s_changes_are_not_heard(policies: PolicySet) -> None:
    from tests.postgres import fresh_schema

    with fresh_schema() as one, fresh_schema() as other:
        listener = OrgStore(one)
        listener.db.changes(0.1)  # type: ignore[attr-defined]
        OrgStore(other).import_snapshot(DEMO.read_text(), policies.catalogue)
        assert _heard(listener) == []


class _Feed:
    """A store's `changes` that says what it is told to."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.calls = 0

    def __call__(self, timeout: float) -> list[dict[str, Any]]:
        self.calls += 1
        step = self.script.pop(0) if self.script else []
        if isinstance(step, Exception):
            raise step
        return list(step)


def _feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ChangeFeed, _Feed]:
    feed = ChangeFeed(OrgStore(tmp_path / "s.sqlite3"), threading.Event(), 0.001)
    fake = _Feed()
    feed.changes = fake
    return feed, fake


def test_sqlite_is_polled_every_interval(tmp_path: Path) -> None:
    feed = ChangeFeed(OrgStore(tmp_path / "s.sqlite3"), threading.Event(), 0.001)
    assert not feed.pushed and all(feed.wait() for _ in range(3))


def test_listening_polls_on_a_notice_on_reconnecting_and_else_only_for_safety(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, fake = _feed(tmp_path, monkeypatch)
    fake.script = [[{"reconnected": True}], [], [], [{"org": "demo"}], []]
    assert [feed.wait() for _ in range(5)] == [True, False, False, True, False]
    assert feed.listening
    monkeypatch.setattr(change_feed, "SAFETY_POLL", 0.0)
    assert feed.wait() is True  # a notice may be lost: poll now and then anyway


def test_a_dropped_listener_falls_back_to_polling_and_retries_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, fake = _feed(tmp_path, monkeypatch)
    fake.script = [[{"reconnected": True}], StoreUnreachable("gone")]
    assert feed.wait() is True and feed.wait() is True
    assert not feed.listening and feed.drops == 1
    calls = fake.calls
    assert all(feed.wait() for _ in range(5))  # polled meanwhile, listening not retried yet
    assert fake.calls == calls
    clock = [1_000_000.0]
    monkeypatch.setattr(change_feed.time, "monotonic", lambda: clock[0])
    fake.script = [StoreUnreachable("still gone"), StoreUnreachable("still gone")]
    feed.wait()  # the retry is due (the monotonic clock jumped), and fails
    assert feed.drops == 2
    clock[0] += change_feed.FIRST_BACKOFF * 2 - 0.01
    feed.wait()  # the second retry waits twice as long
    assert feed.drops == 2
    clock[0] += 0.02
    feed.wait()
    assert feed.drops == 3
    clock[0] += 3600
    fake.script = [[{"reconnected": True}]]
    assert feed.wait() is True and feed.listening  # back: poll at once to catch up


def test_a_heartbeat_is_heard_back_by_its_own_listener_only(postgres_url: str) -> None:
    listener, other = OrgStore(postgres_url), OrgStore(postgres_url)
    for store in (listener, other):
        assert store.db.changes(0.1) == [{"reconnected": True}]  # type: ignore[attr-defined]
    listener.db.heartbeat(7)  # type: ignore[attr-defined]
    assert listener.db.changes(5) == [{"heartbeat": 7}]  # type: ignore[attr-defined]
    assert _heard(other) == []
    # the listening connection has its keepalives and a statement timeout of its own
    conn = listener.db._box[0]  # type: ignore[attr-defined]
    params = conn.info.get_parameters()
    assert params["keepalives"] == "1" and params["keepalives_idle"] == "5"
    assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
    with listener.db._pool.connection() as pooled:  # type: ignore[attr-defined]
        assert pooled.info.get_parameters()["tcp_user_timeout"] == "10000"
    listener.db.drop_listener()  # type: ignore[attr-defined]
    assert listener.db.changes(0.1) == [{"reconnected": True}]  # type: ignore[attr-defined]
    listener.db.heartbeat(8)  # type: ignore[attr-defined]
    assert listener.db.changes(5) == [{"heartbeat": 8}]  # type: ignore[attr-defined]


class _Listener:
    """A listening connection on a simulated clock: heartbeats come straight back unless it
    hangs; waiting with nothing heard takes the whole timeout."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.connected = False
        self.hung = False
        self.pending: list[int] = []
        self.sent: list[int] = []
        self.connections = 0

    def changes(self, timeout: float) -> list[dict[str, Any]]:
        if not self.connected:
            self.connected, self.hung, self.pending = True, False, []
            self.connections += 1
            return [{"reconnected": True}]
        if self.pending and not self.hung:
            return [{"heartbeat": self.pending.pop(0)}]
        self.clock[0] += timeout
        return []

    def heartbeat(self, n: int) -> None:
        self.sent.append(n)
        self.pending.append(n)

    def drop_listener(self) -> None:
        self.connected = False


def _checked_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[ChangeFeed, _Listener, list[float]]:
    clock = [1_000.0]
    monkeypatch.setattr(change_feed.time, "monotonic", lambda: clock[0])
    feed = ChangeFeed(OrgStore(tmp_path / "s.sqlite3"), threading.Event(), 1.0)
    listener = _Listener(clock)
    feed.changes, feed.beat, feed.unlisten = (
        listener.changes,
        listener.heartbeat,
        listener.drop_listener,
    )
    return feed, listener, clock


def test_changes_are_pushed_only_while_a_heartbeat_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, listener, _clock = _checked_feed(tmp_path, monkeypatch)
    assert feed.wait() is True and feed.listening  # connected: poll to catch up
    assert not feed.live and feed.why_polling == "listening again: no heartbeat heard back yet"
    turns = [feed.wait() for _ in range(40)]
    assert feed.live and feed.why_polling is None and not any(turns)
    assert len(listener.sent) >= 5 and feed.drops == 0  # a heartbeat about every second


def test_a_hung_listener_is_found_silent_within_late_seconds_then_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, listener, clock = _checked_feed(tmp_path, monkeypatch)
    for _ in range(20):
        feed.wait()
    assert feed.live
    listener.hung, hung_at = True, clock[0]
    while not feed.wait():
        assert clock[0] - hung_at < 10, "never found silent"
    # polled at once, no later than LATE after the hang (a revocation must reach every sidecar
    # within 3 s)
    assert clock[0] - hung_at <= change_feed.LATE + 0.02
    assert not feed.listening and feed.drops == 1 and not listener.connected
    assert feed.why_polling == feed.lost_why == "no heartbeat heard back within 2 s"
    assert feed.wait() is True and listener.connections == 2  # listening again at once
    for _ in range(5):
        feed.wait()
    assert feed.live and feed.drops == 1


def test_a_long_reload_is_followed_by_a_poll_not_by_a_false_alarm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, listener, clock = _checked_feed(tmp_path, monkeypatch)
    for _ in range(10):
        feed.wait()
    clock[0] += 12.0  # the watcher loaded a big org meanwhile: heartbeats wait unread
    assert feed.wait() is True  # polled instead
    assert [feed.wait() for _ in range(10)].count(True) == 0
    assert feed.live and feed.drops == 0 and listener.connections == 1


def test_a_heartbeat_that_cannot_be_sent_turns_the_feed_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed, _listener, clock = _checked_feed(tmp_path, monkeypatch)
    for _ in range(10):
        feed.wait()

    def unreachable(n: int) -> None:
        raise StoreUnreachable("store: cannot reach the store")

    feed.beat = unreachable
    started = clock[0]
    while not feed.wait():
        assert clock[0] - started < 10
    assert clock[0] - started <= change_feed.LATE + 0.02 and feed.drops == 1
