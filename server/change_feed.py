"""When the reload watcher looks at the store: pushed notices, checked by heartbeats, with
polling as the fallback.

On PostgreSQL a sidecar LISTENs: a change (an import, an activation, a migration applied)
reaches it as soon as it commits, and it polls only then, plus once every `SAFETY_POLL`
seconds in case a notice was lost (a change written by an older release, say).

A listener is checked, not trusted (a hung listening backend once held a revocation
back 24.69 s while /readyz said "pushed"). Every `HEARTBEAT` seconds the sidecar sends a
notice to itself through another connection; notices arrive in commit order, so one heard
back proves every change committed before it was sent was heard too. When the newest proof
is older than `LATE` seconds the feed is silent: the sidecar polls at once, drops the
listening connection and listens again on a new one. A revocation committed while a listener
hangs is therefore served within about `LATE` seconds plus a poll, not at the safety poll.

When the listening connection cannot be had or drops, the sidecar polls every interval as it
does on SQLite, and tries to listen again with a backoff (0.5 s doubling up to 30 s); on
reconnecting it polls at once, since what changed in between was not heard. /readyz says
"polling", and why, until a heartbeat comes back on the new connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from suite_authz.engine.store import OrgStore, StoreUnreachable

log = logging.getLogger("authz.server")

SAFETY_POLL = 30.0
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0
# a heartbeat every second, silent when none sent in the last 2 s came back: the worst case
# from a listener hanging to a poll is LATE, within the 3 s a revocation may take
HEARTBEAT, LATE = 1.0, 2.0


class ChangeFeed:
    def __init__(self, store: OrgStore, stop: threading.Event, interval: float) -> None:
        feed = store.notices()
        self.changes: Callable[[float], list[dict[str, Any]]] | None = None
        self.beat: Callable[[int], None] | None = None
        self.unlisten: Callable[[], None] | None = None
        if feed is not None:
            self.changes, self.beat, self.unlisten = (
                feed.changes,
                feed.heartbeat,
                feed.drop_listener,
            )
        self.stop = stop
        self.interval = interval
        self.listening = False
        self.drops = 0  # times listening was lost, found silent, or could not start
        self.lost_why: str | None = None  # why, the last time
        self._backoff = FIRST_BACKOFF
        self._retry_at = 0.0
        self._last_poll = 0.0
        # the newest moment up to which every committed change is known to have been seen:
        # when a heartbeat heard back was sent, or when a poll started
        self._proven = 0.0
        self._beat_heard = False  # on the current listening connection
        self._seq = 0
        self._sent: dict[int, float] = {}  # heartbeat -> when sent
        self._next_beat = 0.0
        self._turn = time.monotonic()  # when the last wait returned
        self._gap_polled = False

    @property
    def pushed(self) -> bool:
        """Whether this store can push changes at all (PostgreSQL)."""
        return self.changes is not None

    @property
    def live(self) -> bool:
        """Changes are pushed now: listening, and a heartbeat heard back lately proves it."""
        if not self.listening:
            return False
        if self.beat is None:
            return True  # a store that cannot be checked is trusted, as before
        return self._beat_heard and time.monotonic() - self._proven <= LATE

    @property
    def why_polling(self) -> str | None:
        """Why changes are polled on a store that can push them (None while they are pushed)."""
        if not self.pushed or self.live:
            return None
        if self.listening:
            if self._beat_heard:
                return f"no heartbeat heard back for {LATE:g} s"
            return "listening again: no heartbeat heard back yet"
        return self.lost_why or "not listening yet"

    def wait(self) -> bool:
        """Block for about one interval (less when a change is heard, or a heartbeat is due);
        True when the store must be polled now."""
        now = time.monotonic()
        if self.changes is None or (not self.listening and now < self._retry_at):
            self.stop.wait(self.interval)
            return self._polled()
        busy = now - self._turn > HEARTBEAT
        if self.listening and self.beat is not None and busy and not self._gap_polled:
            # the watcher was busy (a long reload): heartbeats wait unread and would look
            # late, so a poll now proves the store seen instead (once: a poll that itself
            # takes long, the store timing out, must not keep the listener unread)
            self._gap_polled = True
            return self._polled()
        self._gap_polled = False
        if self.listening and self.beat is not None and now >= self._next_beat:
            self._send_beat(now)
        try:
            heard = self.changes(self._timeout(now))
        except StoreUnreachable as exc:
            self._lost(str(exc))
            self.stop.wait(self.interval)
            return self._polled()
        if not self.listening:
            log.info("listening for store changes")
            self.listening, self._backoff = True, FIRST_BACKOFF
            self._beat_heard, self._sent, self._next_beat = False, {}, 0.0
            return self._polled()
        changed = False
        for change in heard:
            if "heartbeat" in change:
                self._heard_beat(int(change["heartbeat"]))
                continue
            if "reconnected" in change:  # a new connection: it has proven nothing yet
                self._beat_heard, self._sent, self._next_beat = False, {}, 0.0
            changed = True  # a change, or a reconnection with whatever it missed
        now = time.monotonic()
        if changed or now - self._last_poll >= SAFETY_POLL:
            return self._polled()
        if self.beat is not None and now - self._proven > LATE:
            self._silent()
            return self._polled()
        self._turn = now
        return False

    def _timeout(self, now: float) -> float:
        """How long to listen: an interval at most, back in time to send the next heartbeat
        or to find the last one late."""
        if not self.listening or self.beat is None:
            return self.interval
        due = min(self._next_beat, self._proven + LATE + 0.01) - now
        return max(0.01, min(self.interval, due))

    def _send_beat(self, now: float) -> None:
        assert self.beat is not None
        self._seq += 1
        self._next_beat = now + HEARTBEAT
        try:
            self.beat(self._seq)
        except StoreUnreachable as exc:
            # no heartbeat, no proof: the feed turns silent in LATE seconds, and polls fail and
            # say so on /readyz meanwhile
            log.debug("heartbeat not sent: %s", exc)
            return
        self._sent[self._seq] = now

    def _heard_beat(self, n: int) -> None:
        sent = self._sent.get(n)
        if sent is None:  # sent on an earlier connection: proves nothing about this one
            return
        self._sent = {k: v for k, v in self._sent.items() if k > n}
        self._proven = max(self._proven, sent)
        if not self._beat_heard:
            self._beat_heard = True
            log.info("store changes pushed: heartbeat heard back")

    def _polled(self) -> bool:
        self._last_poll = self._turn = time.monotonic()
        self._proven = max(self._proven, self._last_poll)
        return True

    def _silent(self) -> None:
        why = f"no heartbeat heard back within {LATE:g} s"
        log.warning("store change feed silent (%s): listening again, polling meanwhile", why)
        if self.unlisten is not None:
            self.unlisten()
        self.listening, self.lost_why = False, why
        self.drops += 1
        self._retry_at = 0.0  # a new connection at once: the old one's backend may be stuck

    def _lost(self, why: str) -> None:
        if self.listening:
            log.warning("stopped listening for store changes, polling instead: %s", why)
        self.listening, self.lost_why = False, why
        self.drops += 1
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)
