"""Connections that hold the server without asking anything are closed.

uvicorn times out a connection only between requests (keep-alive): one that never sends a
byte, or sends its headers or body a byte at a time, stays open for good, and a few hundred of
them exhaust the process's descriptors (the reload watcher then failed with EMFILE). This
protocol gives every request uvicorn's `timeout_keep_alive` (`authz serve --idle-timeout`)
from its first byte (or from the connection) to arrive whole, headers and body, and refuses
headers larger than MAX_HEADER_BYTES with a 431.
One timer per request, the way uvicorn times keep-alive: the app's body reads need none.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024


def _reply(status: str) -> bytes:
    body = f'{{"status":{status[:3]},"message":"{status[4:].lower()}"}}'.encode()
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """Passed to uvicorn by class (it must pickle by name for `--workers N`); the deadline
    is the config's keep-alive timeout, the one number `--idle-timeout` sets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.timeout_keep_alive, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _close(self, status: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_reply(status))
            self.transport.close()

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already (a 413 before the body ended): just go
        else:
            self._close("408 Request Timeout")

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection must start asking within the time its headers get

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            self._close("431 Request Header Fields Too Large")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def raise_descriptor_limit() -> int:
    """Lift the soft limit on open files to the hard one: idle clients are closed, but a busy
    sidecar may hold many live connections. Returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft
