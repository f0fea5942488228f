"""A real PostgreSQL for the tests: each test gets a schema of its own, dropped after.

$AUTHZ_TEST_POSTGRES names the server (default: the local one, trust auth, database `test`).
With no server there, the PostgreSQL tests are skipped saying so, unless
$AUTHZ_TEST_REQUIRE_POSTGRES is set (`.ci/run` sets it, after starting the local server): then
they fail, so that CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

URL_ENV = "AUTHZ_TEST_POSTGRES"
REQUIRE_ENV = "AUTHZ_TEST_REQUIRE_POSTGRES"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


def in_schema(url: str, schema: str) -> str:
    """The URL with libpq's `options` setting the search path: every connection a store (or
    a sidecar, or the CLI) opens with it works in that schema only."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}', safe='')}"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(server_url(), autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        why = f"no PostgreSQL at {server_url()} ({str(exc).strip()})"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{why}; {REQUIRE_ENV} is set, so this is a failure")
        pytest.skip(f"{why}: start it, or set {URL_ENV} to a server's URL")


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new empty schema's URL, dropped with everything in it afterwards."""
    admin = _admin()
    schema = f"authz_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield in_schema(server_url(), schema)
    finally:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        admin.close()
