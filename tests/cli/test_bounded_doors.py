"""At the CLI's doors: every file read bounded (a FIFO, a device,
/dev/zero refused by name), a store path that is not a file refused in one line, ports
checked, `store check` creating nothing, token files 0600 only, and a revocation that lands
whatever the active policy version. Each failed on 3b794ea."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from suite_authz.cli.commands.serve import read_token, serve
from suite_authz.cli.exits import CommandFailed
from suite_authz.engine.store.org_store import OrgStore
from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

ROOT = Path(__file__).resolve().parents[2]
# generous: only proves that a read did not hang on a FIFO with no writer
NOT_HUNG = 120.0


def _one_line(code: int, err: str, *words: str) -> None:
    assert code == 2, (code, err)
    assert err.startswith("authz: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)


def test_org_import_of_dev_zero_is_refused_by_name_without_reading_it(tmp_path: Path) -> None:
    """`authz org import /dev/zero` grew to 3.3 GB in 12 s on 3b794ea. Run apart, with
    its address space capped at 1 GiB, so that the old unbounded read fails fast instead of
    taking the machine with it."""
    cap = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from suite_authz.cli.main import cli\n"
        "cli(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", cap, "org", "import", "/dev/zero", "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=NOT_HUNG,
        check=False,
    )
    _one_line(done.returncode, done.stderr, "/dev/zero", "character device")


def _unhung(fifo: Path, call: Callable[[], object]) -> list[object]:
    """`call()` on a FIFO no one writes to; if it blocks in open(), a writer that opens and
    closes it at once releases it, and the test fails on what it returned or raised."""
    result: list[object] = []

    def go() -> None:
        try:
            result.append(call())
        except Exception as exc:  # judged by the caller
            result.append(exc)

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(NOT_HUNG / 4)
    if worker.is_alive():  # blocked: open the other end so that it returns, then judge
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(NOT_HUNG)
    assert result, "hung on a FIFO"
    return result


def _fifo_refused(fifo: Path, *args: str) -> tuple[int, str]:
    [(code, _, err)] = _unhung(fifo, lambda: run(*args))  # type: ignore[misc]
    return code, err


@pytest.mark.parametrize(
    "argv",
    [
        ("org", "import", "{fifo}", "--store", "{tmp}/s"),
        (
            "migrate",
            "apply",
            "--org",
            "demo",
            "--as",
            "root",
            "--plan",
            "{fifo}",
            "--store",
            "{tmp}/s",
        ),
        ("diff", "shipped", "shipped", "--expect", "{fifo}"),
        ("serve", "--store", "{tmp}/s", "--token-file", "{fifo}"),
        ("test", "--shipped", "{tmp}"),
        ("fmt", "--check", "--policies", "{tmp}/policies"),
    ],
    ids=["org-import", "migrate-plan", "diff-expect", "token-file", "suite", "fmt"],
)
def test_a_fifo_is_refused_by_name_not_waited_on(tmp_path: Path, argv: tuple[str, ...]) -> None:
    fifo = tmp_path / "pipe.json"
    if "test" in argv:
        fifo = tmp_path / "suite.yaml"
    if "fmt" in argv:
        shutil.copytree(POLICIES, tmp_path / "policies", ignore=shutil.ignore_patterns("history"))
        fifo = tmp_path / "policies" / "zz.cedar"
    os.mkfifo(fifo)
    if "migrate" in argv:
        assert run("org", "import", str(DEMO), "--store", str(tmp_path / "s"))[0] == 0
    args = [a.format(fifo=fifo, tmp=tmp_path) for a in argv]
    code, err = _fifo_refused(fifo, *args)
    _one_line(code, err, str(fifo), "FIFO")


@pytest.mark.parametrize(
    "argv",
    [
        ("store", "upgrade", "--store", "/dev/null"),
        ("store", "check", "--store", "/dev/null"),
        ("org", "import", str(DEMO), "--store", "/dev/null"),
        ("org", "list", "--store", "/dev/null"),
    ],
    ids=["upgrade", "check", "import", "list"],
)
def test_a_store_path_that_is_a_device_is_one_line_naming_it(argv: tuple[str, ...]) -> None:
    """A traceback (an internal error) on 3b794ea."""
    code, _, err = run(*argv)
    _one_line(code, err, "/dev/null", "character device")


def test_a_store_path_that_is_a_directory_is_one_line_naming_it(tmp_path: Path) -> None:
    code, _, err = run("store", "upgrade", "--store", str(tmp_path))
    _one_line(code, err, str(tmp_path), "directory")


def test_store_check_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    """On 3b794ea it made nosuch/dir/x.sqlite3 (and the directories), exit 1."""
    where = tmp_path / "nosuch" / "dir" / "x.sqlite3"
    code, _, err = run("store", "check", "--store", str(where))
    _one_line(code, err, str(where), "no store")
    assert list(tmp_path.iterdir()) == []


def test_store_check_of_a_store_leaves_its_directory_as_it_was(tmp_path: Path) -> None:
    store = tmp_path / "orgs.sqlite3"
    assert run("org", "import", str(DEMO), "--store", str(store))[0] == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run("store", "check", "--store", str(store))
    assert code == 0 and out.strip().endswith("ok"), (out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range(port: str) -> None:
    """`--port 99999` printed `:99999` and listened on a random port on 3b794ea.
    Parsing alone decides; nothing is served."""
    with pytest.raises(click.BadParameter, match="65535"):
        serve.make_context("serve", ["--port", port])


def test_serve_port_zero_means_any_and_says_so() -> None:
    ctx = serve.make_context("serve", ["--port", "0"])
    assert ctx.params["port"] == 0
    port_help = next(p for p in serve.params if p.name == "port")
    assert "0" in str(port_help.help) and "any" in str(port_help.help)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_a_token_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    """A group-readable (0640) token file was accepted on 3b794ea."""
    token = tmp_path / "token"
    token.write_text("s" * 32)
    token.chmod(mode)
    with pytest.raises(CommandFailed, match="0600"):
        read_token(token, remote=True)


def test_a_token_file_of_mode_0600_is_read(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s" * 32 + "\n")
    token.chmod(0o600)
    assert read_token(token, remote=True) == "s" * 32


def test_a_token_file_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo, 0o600)
    [raised] = _unhung(fifo, lambda: read_token(fifo, remote=False))
    assert isinstance(raised, CommandFailed) and "FIFO" in str(raised), raised


def _revoked(tmp_path: Path) -> Path:
    data = json.loads(DEMO.read_text())
    asha = next(u for u in data["users"] if u["id"] == "asha")
    asha.pop("enrolments")
    out = tmp_path / "revoked.json"
    out.write_text(json.dumps(data, indent=2))
    return out


def _asha_views_est_1(store: Path) -> int:
    args = ["--subject", "asha", "--action", "view", "--resource", "estimate:est-1"]
    return run("explain", "--org", "demo", "--store", str(store), "--shipped", *args)[0]


def test_a_revocation_lands_with_a_corrupt_active_policy_version(tmp_path: Path) -> None:
    """On 3b794ea the import exited 2 and asha stayed allowed: a revoked user kept access."""
    store = tmp_path / "orgs.sqlite3"
    assert run("org", "import", str(DEMO), "--store", str(store))[0] == 0
    assert run("policy", "publish", str(POLICIES), "--store", str(store))[0] == 0
    db = OrgStore(store)
    with db.transaction() as tx:
        tx.execute("UPDATE policy_sets SET source = replace(source, 'forbid', 'permit')")
    db.close()
    assert _asha_views_est_1(store) == 0

    code, out, err = run("org", "import", str(_revoked(tmp_path)), "--store", str(store))
    assert code == 0, (out, err)
    assert "version 2" in out
    assert "active policy version" in err and "does not load" in err, err
    assert _asha_views_est_1(store) == 1


def test_a_revocation_that_is_not_an_org_is_still_refused_with_a_corrupt_version(
    tmp_path: Path,
) -> None:
    """Falling back never stores what no server could load: broken JSON is refused."""
    store = tmp_path / "orgs.sqlite3"
    assert run("org", "import", str(DEMO), "--store", str(store))[0] == 0
    assert run("policy", "publish", str(POLICIES), "--store", str(store))[0] == 0
    db = OrgStore(store)
    with db.transaction() as tx:
        tx.execute("UPDATE policy_sets SET source = replace(source, 'forbid', 'permit')")
    db.close()
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "demo", "users": 3}')
    code, _, err = run("org", "import", str(bad), "--store", str(store))
    assert code == 2 and "invalid org" in err, err
    assert OrgStore(store).version("demo") == 1


@pytest.mark.parametrize("command", ["explain", "validate"])
def test_an_org_file_that_is_a_device_is_named_as_one(command: str) -> None:
    """`--org /dev/null` said `no such snapshot file` on 3b794ea: it is there, and a device."""
    extra = ["--subject", "asha", "--action", "view", "--resource", "estimate"]
    args = [command, "--org", "/dev/null", "--shipped", *(extra if command == "explain" else [])]
    code, _, err = run(*args)
    _one_line(code, err, "/dev/null", "character device")
