"""`authz serve --workers N`: load once, freeze, fork N workers that share what was loaded.

Each worker used to be a fresh process that loaded every org itself: on a 10,000-user org
that is 7-11 s of building Cedar entities with the GIL held, during which uvicorn's supervisor
pinged the worker, heard nothing for 5 s and killed it (ready took 18-21 s with a kill in each
run, never on the 50,000-user org), and the parent kept a copy of its own: total RSS 3x one
worker. Here the parent builds the served state once (the app, the engines, the decision log,
the metrics in multiprocess mode), moves it out of the cyclic collector's reach
(`gc.freeze`, so that no collection in a worker writes to the shared pages), binds the port,
closes its store connections (a connection must not cross a fork) and forks. Each worker
reopens the store, starts its own watcher (a reload builds the new set on that thread, off
the event loop, and only the worker that reloads pays for what it builds) and serves the
shared socket with its own uvicorn server; the kernel spreads connections over them.

The parent only supervises: SIGTERM or SIGINT stops every worker (each finishes what it
answers), SIGHUP is passed on (each reopens the decision log), and a worker that dies is
replaced by a fresh fork, which catches up with any change through its watcher at once; a
worker that dies within a second of starting, three times running, stops the server (exit 1)
rather than fork forever.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from suite_authz.server.state import State

QUICK_DEATH = 1.0  # seconds: a worker that dies sooner did not start
QUICK_DEATHS = 3  # in a row: stop instead of forking again


def listening_socket(host: str, port: int) -> socket.socket:
    """The port every worker accepts on, bound once by the parent."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_forked(
    state: State,
    sock: socket.socket,
    workers: int,
    run_worker: Callable[[socket.socket], None],
    on_fork: Callable[[], None] = lambda: None,
) -> int:
    """Fork `workers` workers serving `sock` with `run_worker`, supervise them until told to
    stop; the exit code. `on_fork`: run in each worker before it serves (the store reopened,
    the watcher started)."""
    state.store.close()  # the parent reads nothing more; each worker opens its own
    gc.collect()
    gc.freeze()  # shared pages stay shared: no collection in a worker walks (writes) them
    stopping = False
    children: dict[int, float] = {}

    def forward(signum: int, _frame: Any) -> None:
        # passed on at once: waitpid below is resumed after a handler, not interrupted
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            _signal(pid, signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for _ in range(workers):
        pid, started = _fork(sock, run_worker, on_fork)
        children[pid] = started
    quick = 0
    code = 0
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid not in children:
            continue
        started = children.pop(pid)
        if stopping:
            continue
        quick = quick + 1 if time.monotonic() - started < QUICK_DEATH else 0
        print(
            f"authz serve: worker {pid} ended ({_how(status)}); "
            + ("stopping: workers die as they start" if quick >= QUICK_DEATHS else "replacing it"),
            file=sys.stderr,
            flush=True,
        )
        if quick >= QUICK_DEATHS:
            stopping, code = True, 1
            for other in children:
                _signal(other, signal.SIGTERM)
            continue
        pid, started = _fork(sock, run_worker, on_fork)
        children[pid] = started
    sock.close()
    return code


def _fork(
    sock: socket.socket, run_worker: Callable[[socket.socket], None], on_fork: Callable[[], None]
) -> tuple[int, float]:
    pid = os.fork()
    if pid:
        return pid, time.monotonic()
    code = 0
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        on_fork()
        run_worker(sock)
    except BaseException as exc:  # a worker's end is the parent's to report
        if not isinstance(exc, SystemExit | KeyboardInterrupt):
            print(f"authz serve: worker {os.getpid()} failed: {exc}", file=sys.stderr, flush=True)
            code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never back into the parent's code


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"
