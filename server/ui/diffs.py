"""Policy changes for the page, one at a time and each made once.

A comparison costs seconds of CPU (the semantic diff asks every request of both sets), and it
holds the GIL much of that time, so that the sidecar's own answers on the same process wait
behind it. The page therefore computes in a thread of its own, never on the event loop nor in
the pool that serves the other pages, at most one comparison at a time per process; a request
for the comparison under way is told so (a page that refreshes) instead of starting a second,
and a request for another one is told to come back (503). What is made is kept, keyed by what
decides the answer: the two sides as named and their policy versions, and every served org's
snapshot digest. A second look is a lookup.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from suite_authz.engine.core import AuthzError
from suite_authz.server.ui.views import DiffQuestion, PolicyChange

KEEP = 16  # comparisons kept per process, the least recently looked at dropped first
RETRY_SECONDS = 2


@dataclass(frozen=True, slots=True)
class Pending:
    """The comparison asked for is being made (`theirs`: it is another one)."""

    base: str
    head: str
    theirs: bool = False


@dataclass
class DiffJobs:
    compute: Callable[[DiffQuestion], PolicyChange]
    # how long the request that starts a comparison waits for it before showing the progress
    # page (None: until it is made)
    patience: float | None = 1.5
    computed: int = 0  # comparisons made: a second look must not add one
    _kept: OrderedDict[tuple[object, ...], PolicyChange | AuthzError] = field(
        default_factory=OrderedDict
    )
    _running: tuple[DiffQuestion, Future[PolicyChange]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def ask(self, question: DiffQuestion) -> PolicyChange | Pending:
        with self._lock:
            kept = self._kept.get(question.key)
            if kept is not None:
                self._kept.move_to_end(question.key)
                return _outcome(kept)
            if self._running is not None:
                running, _ = self._running
                return Pending(running.base, running.head, running.key != question.key)
            future: Future[PolicyChange] = Future()
            self._running = (question, future)
        threading.Thread(
            target=self._make, args=(question, future), name="ui-diff", daemon=True
        ).start()
        if self.patience is not None and self.patience <= 0:
            return Pending(question.base, question.head)
        try:
            # shielded: a request that stops waiting must not cancel what others will read
            return await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(future)), self.patience
            )
        except TimeoutError:
            return Pending(question.base, question.head)

    def running(self) -> Future[PolicyChange] | None:
        with self._lock:
            return self._running[1] if self._running else None

    def _make(self, question: DiffQuestion, future: Future[PolicyChange]) -> None:
        future.set_running_or_notify_cancel()
        try:
            made: PolicyChange | AuthzError = self.compute(question)
        except AuthzError as exc:  # the same sides give the same error: kept as an answer
            made = exc
        except BaseException as exc:  # a fault is not kept: the next look tries again
            with self._lock:
                self._running = None
            future.set_exception(exc)
            return
        with self._lock:
            self.computed += 1
            self._kept[question.key] = made
            while len(self._kept) > KEEP:
                self._kept.popitem(last=False)
            self._running = None
        if isinstance(made, AuthzError):
            future.set_exception(made)
        else:
            future.set_result(made)


def _outcome(kept: PolicyChange | AuthzError) -> PolicyChange:
    if isinstance(kept, AuthzError):
        raise kept
    return kept
