"""Metrics with `--workers N`: a scrape reaches whichever worker answers, and every scrape
must say the same of what was decided. With the hand-built counters of the first release,
after 20 evaluations a scrape said 9 or 11 depending on the worker."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store import OrgStore
from tests.api.conftest import evaluation
from tests.api.processes import serving
from tests.conftest import DEMO

pytestmark = pytest.mark.slow


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return str(resp.read().decode())


def _post(port: int, body: dict[str, object]) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/access/v1/evaluation",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "connection": "close"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _total(text: str, metric: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{metric}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def test_counters_add_up_across_workers_whichever_answers_the_scrape(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite3"
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    with serving("--store", str(store), "--workers", "2", ready=60) as port:
        asks = [("asha", "create", "estimate"), ("gil", "view", "subscription:sub-1")]
        for n in range(20):  # a new connection each: the kernel spreads them over the workers
            _post(port, evaluation(*asks[n % 2]))
        scrapes = [_get(port, "/metrics") for _ in range(12)]
        for text in scrapes:
            assert _total(text, "authz_decisions_total") == 20.0
            assert _total(text, "authz_decision_seconds_count") == 20.0
            assert re.search(r'^authz_decisions_total\{outcome="allow"\} 10\.0$', text, re.M)
        # each worker carries its process figures over at its watcher's turn, once a second
        deadline = time.monotonic() + 30
        while len(_workers(_get(port, "/metrics"))) < 2:
            assert time.monotonic() < deadline, "both workers report their own process figures"
            time.sleep(0.2)


def _workers(text: str) -> set[str]:
    return set(re.findall(r'^authz_worker_cpu_seconds\{pid="(\d+)"\}', text, re.M))
