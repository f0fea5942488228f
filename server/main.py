"""Wiring: a serve configuration -> store, state, reload watcher, log, metrics, app."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from prometheus_client import multiprocess
from starlette.types import ASGIApp

from suite_authz.engine.serving import DecisionLog, OrgSelection, Shard
from suite_authz.engine.sources import PolicyRef, check_directory
from suite_authz.engine.store import OrgStore, PoolSettings, load_verifier, store_location
from suite_authz.server.app import create_app
from suite_authz.server.config import (
    DEFAULT_CLASS_CACHE,
    DEFAULT_DECISION_CACHE,
    ConfigError,
    ServeConfig,
)
from suite_authz.server.metrics import MULTIPROC_ENV, Metrics, multiprocess_mode
from suite_authz.server.state import State

CONFIG_ENV = "AUTHZ_SERVE_CONFIG"
__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CLASS_CACHE",
    "DEFAULT_DECISION_CACHE",
    "SHIPPED_SET",
    "ServeConfig",
    "build",
    "factory",
    "served_ref",
    "shared_metrics_dir",
    "to_env",
]


def build(config: ServeConfig, *, watch: bool = True) -> tuple[ASGIApp, State]:
    """The app and its state; refused (ConfigError) by a configuration that breaks the bind
    rules, before anything is opened, however the server is started. `watch` False: no
    watcher is started (the parent of forked workers: each worker starts its own)."""
    config.validate()
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
    if watch and config.reload_interval > 0:
        state.watch(config.reload_interval)
    log = (
        DecisionLog(Path(config.decision_log), store.secret("log-mask"))
        if config.decision_log
        else None
    )
    state.decision_log = log
    app = create_app(
        state, metrics, config.token, log, config.public_url,
        max_searches=config.max_searches, fleet=config.fleet,
    )  # fmt: skip
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
        OrgSelection.of(config.orgs, Shard.parse(config.shard) if config.shard else None),
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
    """For uvicorn --factory with several workers: each builds its own state from the env.
    Started by uvicorn directly, a configuration breaking the bind rules stops it here."""
    given = os.environ.get(CONFIG_ENV)
    if not given:
        raise ConfigError(f"${CONFIG_ENV}: no serve configuration (`authz serve` sets it)")
    raw = json.loads(given)
    raw["orgs"] = tuple(raw.get("orgs") or ())
    raw["verify_keys"] = tuple(raw.get("verify_keys") or ())
    app, state = build(ServeConfig(**raw))
    if multiprocess_mode():  # this worker's live gauges go with it
        atexit.register(multiprocess.mark_process_dead, os.getpid())
    atexit.register(state.store.close)
    return app
