"""Wiring: a serve configuration -> store, state, reload watcher, log, metrics, app."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp

from suite_authz.engine import AuthzError, DecisionLog, OrgStore
from suite_authz.server.app import create_app
from suite_authz.server.metrics import Metrics
from suite_authz.server.state import State

CONFIG_ENV = "AUTHZ_SERVE_CONFIG"
# Decisions kept per served org (engine/cache.py): a CRM asks the same questions again and again.
DEFAULT_DECISION_CACHE = 10_000
# Request classes whose Cedar answer is kept per org (engine/backends/cedar_classes.py): a
# generated 10,000-user org has a few thousand at most on a day's traffic.
DEFAULT_CLASS_CACHE = 65_536


@dataclass(frozen=True)
class ServeConfig:
    store: str | None = None
    policies: str | None = None
    orgs: tuple[str, ...] = ()
    backend: str = "cedar"
    token: str | None = None
    decision_log: str | None = None
    reload_interval: float = 1.0
    decision_cache: int = DEFAULT_DECISION_CACHE
    class_cache: int = DEFAULT_CLASS_CACHE
    public_url: str | None = None  # the base URL /.well-known/authzen-configuration names
    # gc.freeze what each load built (server/state.py); `authz serve` turns it on
    freeze_heap: bool = False


def check_public_url(url: str) -> str:
    """AuthZEN 9.1: the PDP identifier is an https URL with no query or fragment (http only
    for a loopback host, in development). Raises AuthzError naming what is wrong."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise AuthzError(f"--public-url {url}: must be an https URL (http only on loopback)")
    if not parts.hostname or parts.query or parts.fragment:
        raise AuthzError(f"--public-url {url}: a host and a path only, no query or fragment")
    return url.rstrip("/")


def build(config: ServeConfig) -> tuple[ASGIApp, State]:
    if config.public_url is not None:
        check_public_url(config.public_url)
    metrics = Metrics()
    store = OrgStore(Path(config.store) if config.store else None)
    state = State(
        store,
        Path(config.policies) if config.policies else None,
        list(config.orgs) or None,
        config.backend,
        metrics,
        config.decision_cache,
        class_cache=config.class_cache,
        freeze_heap=config.freeze_heap,
    )
    if config.reload_interval > 0:
        state.watch(config.reload_interval)
    log = (
        DecisionLog(Path(config.decision_log), store.secret("log-mask"))
        if config.decision_log
        else None
    )
    state.decision_log = log
    return create_app(state, metrics, config.token, log, config.public_url), state


def to_env(config: ServeConfig) -> None:
    os.environ[CONFIG_ENV] = json.dumps(asdict(config))


def factory() -> ASGIApp:
    """For uvicorn --factory with several workers: each builds its own state from the env."""
    raw = json.loads(os.environ[CONFIG_ENV])
    raw["orgs"] = tuple(raw.get("orgs") or ())
    app, _ = build(ServeConfig(**raw))
    return app
