"""`authz serve` as a real process, for the tests that need sockets, signals and timing."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.api.test_process import _free_port
from tests.conftest import ROOT


@contextmanager
def serving(*args: str) -> Iterator[int]:
    """Start `authz serve ARGS` on a free port, wait until it answers, yield the port."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite_authz.cli.main", "serve", *args, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)
