"""Under load, while a writer rewrites policy files non-atomically and an admin
imports and revokes org data, no decision is an unexpected allow, and every revocation is
served within 2 s of its import. Both the production mode (the store's published set) and
the development mode (a watched folder) are run, each against a real server process."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from suite_authz.engine.core.policies import load_policies
from suite_authz.engine.store.org_store import OrgStore
from tests.api.processes import serving
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

SECONDS = 12.0  # of load per mode
READ_ONLY_EDIT = {  # D7: always a deny in the demo org
    "subject": {"type": "user", "id": "asha"},
    "action": {"name": "edit"},
    "resource": {"type": "invoice", "id": "inv-1", "properties": {"fields": ["discount"]}},
}
ASHA_CREATES = {  # allowed while asha is enrolled, denied once her seat is revoked
    "subject": {"type": "user", "id": "asha"},
    "action": {"name": "create"},
    "resource": {"type": "estimate", "id": "#new"},
}


def _ask(port: int, body: dict[str, object]) -> bool:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/access/v1/evaluation",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return bool(json.loads(resp.read())["decision"])


def _snapshot(enrolled: bool) -> str:
    data = json.loads(DEMO.read_text())
    if not enrolled:
        del next(u for u in data["users"] if u["id"] == "asha")["enrolments"]
    return json.dumps(data)


def _rewrite_slowly(folder: Path, stop: threading.Event) -> None:
    """Truncate, pause, then write a policy at a time with pauses: what an editor, `cp` or a
    checkout leaves on disk for a moment (the forbids of fields.cedar among them)."""
    texts = {p: p.read_text() for p in (folder / "fields.cedar", folder / "profile.cedar")}
    while not stop.is_set():
        for path, text in texts.items():
            pieces = text.split("@id(")
            with path.open("w") as f:
                f.flush()
                time.sleep(0.3)  # emptied
                for n, piece in enumerate(pieces):
                    f.write(piece if n == 0 else "@id(" + piece)
                    f.flush()
                    time.sleep(0.15)  # cut after a policy
            if stop.is_set():
                return


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["store", "directory"])
def test_no_unexpected_allow_and_revocations_within_2_s(tmp_path: Path, mode: str) -> None:
    store = tmp_path / "s.sqlite3"
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder, ignore=shutil.ignore_patterns("history", "legacy"))
    OrgStore(store).import_snapshot(DEMO.read_text(), load_policies().catalogue)
    args = ["--store", str(store)]
    if mode == "store":
        assert run("policy", "publish", str(folder), *args)[0] == 0
    else:
        args += ["--policies", str(folder)]
    stop = threading.Event()
    unexpected: list[str] = []
    imports: list[tuple[float, bool]] = []  # (when, asha enrolled)
    seen: list[tuple[float, bool]] = []  # (asked at, asha allowed)

    def admin() -> None:
        catalogue = load_policies().catalogue
        enrolled = True
        while not stop.is_set():
            time.sleep(1.5)
            enrolled = not enrolled
            OrgStore(store).import_snapshot(_snapshot(enrolled), catalogue)
            imports.append((time.monotonic(), enrolled))

    writer = threading.Thread(target=_rewrite_slowly, args=(folder, stop))
    importer = threading.Thread(target=admin)
    with serving(*args) as port:
        writer.start()
        importer.start()
        try:
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:
                if _ask(port, READ_ONLY_EDIT):
                    unexpected.append("D7 read-only edit allowed")
                asked = time.monotonic()
                seen.append((asked, _ask(port, ASHA_CREATES)))
        finally:  # the loops end with the test, whatever it met
            stop.set()
            writer.join()
            importer.join()
    assert not unexpected, unexpected[:5]
    revocations = [t for t, enrolled in imports if not enrolled]
    assert revocations, "no revocation happened"
    for n, (t, enrolled) in enumerate(imports):
        if enrolled:
            continue
        until = imports[n + 1][0] if n + 1 < len(imports) else float("inf")
        late = [a for a, allowed in seen if t + 2.0 <= a < until and allowed]
        assert not late, f"asha still allowed {late[0] - t:.2f} s after her revocation"
