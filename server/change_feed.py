"""When the reload watcher looks at the store: pushed notices, with polling as the fallback.

On PostgreSQL a sidecar LISTENs: a change (an import, an activation, a migration applied)
reaches it as soon as it commits, and it polls only then, plus once every `SAFETY_POLL`
seconds in case a notice was lost (a change written by an older release, say). When the
listening connection cannot be had or drops, the sidecar polls every interval as it does on
SQLite, and tries to listen again with a backoff (0.5 s doubling up to 30 s); on reconnecting
it polls at once, since what changed in between was not heard.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from suite_authz.engine import OrgStore, StoreUnreachable

log = logging.getLogger("authz.server")

SAFETY_POLL = 30.0
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0


class ChangeFeed:
    def __init__(self, store: OrgStore, stop: threading.Event, interval: float) -> None:
        self.changes: Callable[[float], list[dict[str, Any]]] | None = getattr(
            store.db, "changes", None
        )
        self.stop = stop
        self.interval = interval
        self.listening = False
        self.drops = 0  # times listening was lost (or could not start)
        self._backoff = FIRST_BACKOFF
        self._retry_at = 0.0
        self._last_poll = 0.0

    @property
    def pushed(self) -> bool:
        """Whether this store can push changes at all (PostgreSQL)."""
        return self.changes is not None

    def wait(self) -> bool:
        """Block for about one interval (less when a change is heard); True when the store
        must be polled now."""
        now = time.monotonic()
        if self.changes is None or (not self.listening and now < self._retry_at):
            self.stop.wait(self.interval)
            return self._polled()
        try:
            heard = self.changes(self.interval)
        except StoreUnreachable as exc:
            self._lost(exc)
            self.stop.wait(self.interval)
            return self._polled()
        caught_up = self.listening
        if not caught_up:
            log.info("listening for store changes")
        self.listening, self._backoff = True, FIRST_BACKOFF
        if heard or not caught_up or time.monotonic() - self._last_poll >= SAFETY_POLL:
            return self._polled()
        return False

    def _polled(self) -> bool:
        self._last_poll = time.monotonic()
        return True

    def _lost(self, exc: StoreUnreachable) -> None:
        if self.listening:
            log.warning("stopped listening for store changes, polling instead: %s", exc)
        self.listening = False
        self.drops += 1
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
