"""Wiring: a serve configuration -> store, state, reload watcher, log, metrics, app."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import multiprocess
from starlette.types import ASGIApp

from suite_authz.engine.core import AuthzError
from suite_authz.engine.serving import DecisionLog
from suite_authz.engine.sources import PolicyRef, check_directory
from suite_authz.engine.store import OrgStore, PoolSettings, load_verifier, store_location
from suite_authz.server.app import create_app
from suite_authz.server.metrics import MULTIPROC_ENV, Metrics, multiprocess_mode
from suite_authz.server.search import MAX_SEARCHES
from suite_authz.server.state import State

CONFIG_ENV = "AUTHZ_SERVE_CONFIG"
# Decisions kept per served org (engine/core/cache.py): a CRM asks the same questions again and
# again.
DEFAULT_DECISION_CACHE = 10_000
# Request classes whose Cedar answer is kept per org (engine/core/backends/cedar_classes.py): a
# generated 10,000-user org has a few thousand at most on a day's traffic.
DEFAULT_CLASS_CACHE = 65_536


@dataclass(frozen=True)
class ServeConfig:
    store: str | None = None
    # the set to serve: a directory (watched), SHIPPED_SET, or None for the store's active
    # version (the shipped set while the store has none)
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
    # a PostgreSQL store: the pool per process, and how long the store may take to answer
    store_pool_min: int = 1
    store_pool_max: int = 4
    store_timeout: float = 5.0
    max_searches: int = MAX_SEARCHES  # search pages computed at once per worker
    # public keys (PEM files): serve only policy versions and org rows signed by one of them
    verify_keys: tuple[str, ...] = ()


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
    pool = PoolSettings(
        config.store_pool_min, config.store_pool_max, config.store_timeout, config.store_timeout
    )
    store = OrgStore(store_location(config.store) if config.store else None, pool)
    try:
        state = _state(config, store, metrics)
    except BaseException:
        store.close()
        raise
    if config.reload_interval > 0:
        state.watch(config.reload_interval)
    log = (
        DecisionLog(Path(config.decision_log), store.secret("log-mask"))
        if config.decision_log
        else None
    )
    state.decision_log = log
    app = create_app(
        state, metrics, config.token, log, config.public_url, max_searches=config.max_searches
    )
    return app, state


SHIPPED_SET = "shipped"


def served_ref(policies: str | None) -> PolicyRef:
    """ServeConfig.policies as the reference every door resolves (a directory must exist)."""
    if policies is None:
        return PolicyRef.active()
    if policies == SHIPPED_SET:
        return PolicyRef.shipped()
    return PolicyRef.directory(check_directory(Path(policies)).resolve())


def _state(config: ServeConfig, store: OrgStore, metrics: Metrics) -> State:
    verifier = load_verifier([Path(p) for p in config.verify_keys]) if config.verify_keys else None
    return State(
        store,
        served_ref(config.policies),
        list(config.orgs) or None,
        config.backend,
        metrics,
        config.decision_cache,
        class_cache=config.class_cache,
        freeze_heap=config.freeze_heap,
        verifier=verifier,
    )


@contextmanager
def shared_metrics_dir() -> Iterator[None]:
    """Several workers: a fresh directory for their metrics files (prometheus_client's
    multiprocess mode), made before they start and removed after. An operator's own
    $PROMETHEUS_MULTIPROC_DIR is used as it is."""
    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="authz-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(folder, ignore_errors=True)


def to_env(config: ServeConfig) -> None:
    os.environ[CONFIG_ENV] = json.dumps(asdict(config))


def factory() -> ASGIApp:
    """For uvicorn --factory with several workers: each builds its own state from the env."""
    raw = json.loads(os.environ[CONFIG_ENV])
    raw["orgs"] = tuple(raw.get("orgs") or ())
    raw["verify_keys"] = tuple(raw.get("verify_keys") or ())
    app, state = build(ServeConfig(**raw))
    if multiprocess_mode():  # this worker's live gauges go with it
        atexit.register(multiprocess.mark_process_dead, os.getpid())
    atexit.register(state.store.close)
    return app
