"""`authz serve` as a real process, for the tests that need sockets, signals and timing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.api.test_process import _free_port
from tests.conftest import ROOT


@contextmanager
def serving(*args: str, ready: float = 30) -> Iterator[int]:
    """Start `authz serve ARGS` on a free port, wait until it answers, yield the port. The
    server runs in a session of its own, killed whole after: with --workers its workers go
    too. What it printed is shown if it does not start."""
    with serving_process(*args, ready=ready) as (port, _):
        yield port


@contextmanager
def serving_process(*args: str, ready: float = 30) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`serving`, yielding the port and the `authz serve` process."""
    port = _free_port()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "suite_authz.cli.main", "serve", *args, "--port", str(port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + ready
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        err.seek(0)
                        said = err.read().decode()[-2000:]
                        raise AssertionError(f"did not start: {said}") from None
                    time.sleep(0.1)
            yield port, proc
        finally:
            # asked to stop first, so that it cleans up after itself (with --workers, the
            # metrics directory it made); killed if it does not within 10 s
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
