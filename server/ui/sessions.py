"""The admin page's sessions and its login limit.

A session is a cookie signed under a key made from the store's `ui-session` secret and the
token: every worker and every server over one store accepts it, and a new token ends every
session. Each login draws a random nonce, so no two sessions share a cookie, and the cookie
carries when it was issued (absolute expiry) and when it was last used (idle expiry; a page
re-issues it on each use, so an old copy idles out even while its owner works on). Logging
out records the nonce as ended until its absolute expiry; with several workers that record is
the serving worker's, and the others refuse the cookie once it idles out (the browser's copy
is cleared at once).

The login limit is a token bucket per client address (an IPv6 client by its /64, what one
host usually holds): a wrong token takes a token from the bucket, an empty bucket refuses
every login from that address, right or wrong, until it refills, so that a guess cannot be
told right or wrong by its answer. When the table of addresses is full of buckets still
refilling, a new address is refused too: a login limit that forgets is no limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 12 * 60 * 60
LOGIN_BURST = 5  # wrong tokens in a row before the limit applies
LOGIN_REFILL_SECONDS = 12.0  # then one more try every 12 s: 5 a minute
LOGIN_CLIENTS = 4096
CLOCK_SKEW_SECONDS = 60  # between servers over one store


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    issued: int
    seen: int


class Sessions:
    def __init__(self, secret: bytes, token: str, clock: Clock) -> None:
        self._key = hmac.new(secret, token.encode(), hashlib.sha256).digest()
        self._clock = clock
        self._ended: dict[str, int] = {}  # nonce -> its absolute expiry

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, session: Session | None = None) -> str:
        """A cookie for a new session (None), or for `session` used now."""
        now = int(self._clock())
        if session is None:
            session = Session(base64.urlsafe_b64encode(os.urandom(18)).decode(), now, now)
        payload = json.dumps(
            {"n": session.nonce, "i": session.issued, "s": now}, separators=(",", ":")
        ).encode()
        encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{encoded}.{self._mac(payload)}"

    def read(self, cookie: str) -> Session | None:
        """The session a cookie holds, or None: forged, ended, idle too long or too old."""
        if len(cookie) > 512 or cookie.count(".") != 1:
            return None
        encoded, mac = cookie.split(".")
        try:
            payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        data = json.loads(payload)  # signed by us: the shape is ours
        session = Session(str(data["n"]), int(data["i"]), int(data["s"]))
        now = self._clock()
        if session.nonce in self._ended or session.issued > session.seen:
            return None
        if session.seen > now + CLOCK_SKEW_SECONDS:  # beyond any skew between servers
            return None
        if now - session.seen >= IDLE_SECONDS or now - session.issued >= ABSOLUTE_SECONDS:
            return None
        return session

    def csrf(self, session: Session) -> str:
        """The value a form that changes the session (logout) must carry: bound to this
        login, unknowable to another site."""
        return self._mac(b"csrf:" + session.nonce.encode())

    def end(self, session: Session) -> None:
        now = self._clock()
        self._ended = {n: t for n, t in self._ended.items() if t > now}
        self._ended[session.nonce] = session.issued + ABSOLUTE_SECONDS


class LoginLimit:
    def __init__(
        self,
        clock: Clock,
        burst: int = LOGIN_BURST,
        refill: float = LOGIN_REFILL_SECONDS,
        clients: int = LOGIN_CLIENTS,
    ) -> None:
        self._clock = clock
        self._burst = burst
        self._refill = refill
        self._clients = clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.get(client, (self._burst, now))
        return min(float(self._burst), tokens + (now - at) / self._refill)

    def wait(self, address: str | None) -> int:
        """Seconds before this client may try a token again (0: now)."""
        client, now = _client(address), self._clock()
        if client not in self._buckets and len(self._buckets) >= self._clients:
            self._forget_full(now)
            if len(self._buckets) >= self._clients:
                return math.ceil(self._refill)
        tokens = self._tokens(client, now)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) * self._refill))

    def wrong(self, address: str | None) -> None:
        client, now = _client(address), self._clock()
        self._buckets[client] = (self._tokens(client, now) - 1, now)

    def right(self, address: str | None) -> None:
        self._buckets.pop(_client(address), None)

    def _forget_full(self, now: float) -> None:
        full = [c for c in self._buckets if self._tokens(c, now) >= self._burst]
        for client in full:
            del self._buckets[client]


def _client(address: str | None) -> str:
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
