"""The store's files and paths: a SQLite store's files are its owner's alone (they
hold the masking, page-token and plan-signing keys), a path that is not a regular file is
refused by name, a read-only open creates nothing, and a PostgreSQL URL naming a missing
database says so at once. Each failed on 3b794ea."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from suite_authz.engine.core.errors import InvalidOrg
from suite_authz.engine.store.db import StoreError
from suite_authz.engine.store.org_store import OrgStore
from tests.conftest import DEMO

# generous: proves the answer did not wait out the pool's retries (8 s on 3b794ea)
NOT_WAITED = 3.0


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_store_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which made 0644 files on 3b794ea
    try:
        store = OrgStore(tmp_path / "orgs.sqlite3")
        store.secret("log-mask")
        files = {p.name: _mode(p) for p in tmp_path.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert set(files) >= {"orgs.sqlite3", "orgs.sqlite3-wal", "orgs.sqlite3-shm"}, files
    assert all(mode == 0o600 for mode in files.values()), {k: oct(v) for k, v in files.items()}


def test_store_directories_made_for_a_new_store_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        OrgStore(tmp_path / "made" / "orgs.sqlite3").close()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "made") == 0o700


@pytest.mark.parametrize("where", ["/dev/null", "/dev/zero"])
def test_a_device_as_store_is_refused_by_name(where: str) -> None:
    with pytest.raises(StoreError, match=f"{where}.*character device"):
        OrgStore(where)


def test_a_read_only_open_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    where = tmp_path / "no" / "such" / "orgs.sqlite3"
    with pytest.raises(StoreError, match="no store"):
        OrgStore(where, schema_check=False, read_only=True)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_open_reads_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "orgs.sqlite3"
    OrgStore(path).close()
    store = OrgStore(path, schema_check=False, read_only=True)
    try:
        assert store.ids() == []
        with pytest.raises(StoreError), store.transaction() as tx:
            tx.execute("DELETE FROM orgs")
    finally:
        store.close()


def test_a_missing_postgres_database_is_named_at_once() -> None:
    from tests.postgres import _admin, server_url

    _admin().close()  # skips, saying why, when there is no server
    base, _, _ = server_url().rpartition("/")
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        OrgStore(f"{base}/authz_no_such_database")
    took = time.monotonic() - started
    message = str(raised.value)
    assert 'database "authz_no_such_database" does not exist' in message, message
    assert "\n" not in message
    assert took < NOT_WAITED, took


def test_revocation_stored_with_no_catalogue_checks_the_structure(tmp_path: Path) -> None:
    """The engine's half of a revocation that must land: with no loadable policy set, an org
    is stored after the checks that need none (JSON, the org's shape), and refused when those
    fail."""
    store = OrgStore(tmp_path / "orgs.sqlite3")
    try:
        stored = store.import_snapshot(DEMO.read_text(), None, where=str(DEMO))
        assert stored.version == 1
        with pytest.raises(InvalidOrg, match=r"invalid org: bad\.json: "):
            store.import_snapshot('{"id": "demo", "users": 3}', None, where="bad.json")
        assert store.version("demo") == 1
    finally:
        store.close()


def test_a_dangling_symlink_as_store_is_refused_not_followed(tmp_path: Path) -> None:
    link = tmp_path / "orgs.sqlite3"
    link.symlink_to(tmp_path / "elsewhere.sqlite3")
    with pytest.raises(StoreError, match="symlink to a missing file"):
        OrgStore(link)
    assert not (tmp_path / "elsewhere.sqlite3").exists()
