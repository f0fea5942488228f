"""Connections that would hold a worker (silent, trickling, oversized headers) and tokens that are
unsafe (world-readable, short beyond loopback) or unreadable, against the real server process
(each failed on 4b6dd84)."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.processes import serving
from tests.cli.runner import run
from tests.conftest import DEMO


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    with serving("--store", str(store), "--idle-timeout", "1") as port:
        yield port


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it kept the connection open."""
    sock.settimeout(seconds)
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except TimeoutError:
        return None
    return got


def test_connections_that_send_nothing_or_trickle_headers_are_closed(server: int) -> None:
    silent = [socket.create_connection(("127.0.0.1", server)) for _ in range(20)]
    trickle = socket.create_connection(("127.0.0.1", server))
    try:
        trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(3):
            time.sleep(0.5)
            trickle.sendall(b"X-A: b\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while trickling: what we want
    try:
        for sock in [*silent, trickle]:
            try:
                got = _closed_within(sock, 5)
            except ConnectionResetError:
                got = b""
            assert got is not None and (got == b"" or b"408" in got)
    finally:
        for sock in [*silent, trickle]:
            sock.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{server}/healthz", timeout=5) as r:
        assert r.status == 200  # and the server still answers


def test_a_body_that_trickles_in_is_cut_off(server: int) -> None:
    sock = socket.create_connection(("127.0.0.1", server))
    try:
        sock.sendall(
            b"POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        try:
            for _ in range(6):
                time.sleep(0.4)
                sock.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = _closed_within(sock, 5)
        assert got is not None and (got == b"" or b"408" in got)
    finally:
        sock.close()


def test_oversized_headers_are_a_431(server: int) -> None:
    sock = socket.create_connection(("127.0.0.1", server))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
    got = _closed_within(sock, 5)
    assert got is not None and b"431" in got
    sock.close()


def test_several_workers_serve_with_the_same_guard(tmp_path: Path) -> None:
    """The guarded protocol is handed to uvicorn by class, which must pickle for workers."""
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    with serving("--store", str(store), "--workers", "2", "--idle-timeout", "1") as port:
        sock = socket.create_connection(("127.0.0.1", port))
        try:
            got = _closed_within(sock, 5)
            assert got is not None and (got == b"" or b"408" in got)
        finally:
            sock.close()


def test_a_world_readable_token_file_is_refused(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-enough-token-123")
    os.chmod(token, 0o644)
    code, _, err = run("serve", "--store", str(tmp_path / "s"), "--token-file", str(token))
    assert code == 2 and "readable by every user" in err


def test_a_short_token_is_refused_beyond_loopback(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("short")
    os.chmod(token, 0o600)
    code, _, err = run(
        "serve", "--host", "0.0.0.0", "--store", str(tmp_path / "s"), "--token-file", str(token)
    )
    assert code == 2 and "at least 16" in err


def test_a_token_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_bytes(b"\xff\xfe" * 10)
    os.chmod(token, 0o600)
    code, _, err = run("serve", "--store", str(tmp_path / "s"), "--token-file", str(token))
    assert code == 2 and "not UTF-8" in err
