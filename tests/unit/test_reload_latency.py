"""Answers do not wait for a big org's rebuild.

A sidecar rebuilds an org on its watcher thread while the event loop answers. Python switches
threads every few milliseconds, but only between bytecodes: a long call into C (decoding or
validating a whole snapshot, dumping or parsing every entity) holds the GIL to its end, and
every answer meanwhile waits. Measured before this test (bench/bench_scale.py): one answer took
7.1 s during a 10k-user org's rebuild, 40.6 s during a 50k one's.

The bound is a share of the rebuild's own duration, not a number of seconds: on a loaded
machine both grow together, while one long C call is a fixed share of the whole.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from bench.genorg import generate
from suite_authz.engine.core import Engine, PolicySet, Request
from suite_authz.engine.serving import LoadOptions, load_served, next_orgs
from suite_authz.engine.sources import PolicyRef
from suite_authz.engine.store.org_store import OrgStore
from tests.conftest import DEMO

USERS = 4000  # 40,000 records: a rebuild of about two seconds here
SHARE = 0.10  # the longest answer, as a share of the rebuild


def test_answers_go_on_while_a_big_org_is_rebuilt(tmp_path: Path, policies: PolicySet) -> None:
    store = OrgStore(tmp_path / "orgs.sqlite3")
    store.import_snapshot(DEMO.read_text(), policies.catalogue)
    big = generate(USERS, USERS * 10)
    options = LoadOptions("cedar", class_cache=0)
    served = load_served(store, PolicyRef.shipped(), None, options)
    demo: Engine = served.engines["demo"]  # type: ignore[assignment]
    store.import_snapshot(json.dumps(big), policies.catalogue)

    longest = 0.0
    answered = 0
    done = threading.Event()

    def answer() -> None:
        nonlocal longest, answered
        request = Request("asha", "view", "estimate", "est-1")
        while not done.is_set():
            start = time.perf_counter()
            assert demo.decide(request).allowed
            longest = max(longest, time.perf_counter() - start)
            answered += 1

    answering = threading.Thread(target=answer)
    answering.start()
    try:
        start = time.perf_counter()
        after, changed = next_orgs(served, store, None, options)
        rebuild = time.perf_counter() - start
    finally:
        done.set()
        answering.join()
    assert changed and big["id"] in after.engines
    assert answered > 0
    assert longest < SHARE * rebuild, (
        f"one answer took {longest:.2f} s of a {rebuild:.2f} s rebuild "
        f"({longest / rebuild:.0%}; at most {SHARE:.0%})"
    )
