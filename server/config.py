"""What a sidecar is started with, and the rules a start must pass, whoever starts it: `authz
serve`, or uvicorn handed `suite_authz.server.main:factory` directly. A server reachable
beyond loopback answers for the whole finance suite, so it is refused unguarded (no token,
unless asked for), with a guessable token, or with no PDP identifier of its own (AuthZEN
9.2.3: clients check the one the metadata names, which the request's Host must never set)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from suite_authz.engine.core import AuthzError
from suite_authz.engine.serving import Shard
from suite_authz.server.search import MAX_SEARCHES

# Decisions kept per served org (engine/core/cache.py): a CRM asks the same questions again and
# again.
DEFAULT_DECISION_CACHE = 10_000
# Request classes whose Cedar answer is kept per org (engine/core/backends/cedar_classes.py): a
# generated 10,000-user org has a few thousand at most on a day's traffic.
DEFAULT_CLASS_CACHE = 65_536
MIN_REMOTE_TOKEN = 16


class ConfigError(AuthzError):
    """A configuration the server refuses to start with (exit 2, as any bad input)."""


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_remote_token(token: str, where: str) -> None:
    """Beyond loopback a token must not be guessable in a few tries."""
    if len(token) < MIN_REMOTE_TOKEN:
        raise ConfigError(
            f"{where}: a token of {len(token)} characters; beyond loopback it needs at least "
            f"{MIN_REMOTE_TOKEN}"
        )


def check_public_url(url: str, option: str = "--public-url") -> str:
    """AuthZEN 9.1: the PDP identifier is an https URL with no query or fragment (http only
    for a loopback host, in development)."""
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ConfigError(f"{option} {url}: must be an https URL (http only on loopback)")
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{option} {url}: a host and a path only, no query or fragment")
    return url.rstrip("/")


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8181
    store: str | None = None
    # the set to serve: a directory (watched), SHIPPED_SET, or None for the store's active
    # version (the shipped set while the store has none)
    policies: str | None = None
    orgs: tuple[str, ...] = ()
    shard: str | None = None  # "I/N": serve only the orgs that fall to the I-th of N shards
    backend: str = "cedar"
    token: str | None = None
    token_source: str = "the token"  # where the token came from, for the messages naming it
    allow_remote: bool = False  # beyond loopback without a token (not recommended)
    decision_log: str | None = None
    reload_interval: float = 1.0
    decision_cache: int = DEFAULT_DECISION_CACHE
    class_cache: int = DEFAULT_CLASS_CACHE
    public_url: str | None = None  # the base URL /.well-known/authzen-configuration names
    # with a shard: the base URLs of the fleet's sidecars in shard order, so that the metadata
    # of another shard's org names the sidecar that serves it
    fleet: tuple[str, ...] = ()
    # gc.freeze what each load built (server/state.py); `authz serve` turns it on
    freeze_heap: bool = False
    # a PostgreSQL store: the pool per process, and how long the store may take to answer
    store_pool_min: int = 1
    store_pool_max: int = 4
    store_timeout: float = 5.0
    max_searches: int = MAX_SEARCHES  # search pages computed at once per worker
    # public keys (PEM files): serve only policy versions and org rows signed by one of them
    verify_keys: tuple[str, ...] = ()

    def validate(self) -> ServeConfig:
        """The bind rules; ConfigError naming the first one broken."""
        if self.shard is not None:
            try:
                Shard.parse(self.shard)
            except AuthzError as exc:
                raise ConfigError(str(exc)) from None
        remote = not loopback(self.host)
        if self.token is not None and remote:
            check_remote_token(self.token, self.token_source)
        if self.token is None and remote and not self.allow_remote:
            raise ConfigError(
                f"--host {self.host}: without --token-file the server binds to loopback only "
                "(or pass --allow-remote)"
            )
        if self.public_url is None and remote:
            raise ConfigError(
                f"--host {self.host}: beyond loopback, clients check the PDP identifier the "
                "metadata names: give it with --public-url https://... (AuthZEN 9.2.3)"
            )
        if self.public_url is not None:
            check_public_url(self.public_url)
        self._check_fleet()
        return self

    def _check_fleet(self) -> None:
        if not self.fleet:
            return
        if self.shard is None:
            raise ConfigError("--fleet: the sidecars of a sharded fleet; give --shard I/N too")
        count = Shard.parse(self.shard).count
        if len(self.fleet) != count:
            raise ConfigError(
                f"--fleet: {len(self.fleet)} URLs for {count} shards: one per shard, in order"
            )
        for url in self.fleet:
            check_public_url(url, "--fleet")
