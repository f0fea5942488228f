"""Bad input to the CLI is one line and exit 2, never a traceback
(each of these ended in a traceback with exit 1 on 4b6dd84)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runner import run
from tests.conftest import DEMO, POLICIES

LEGACY = POLICIES / "examples" / "legacy-org.json"


@pytest.fixture
def bad(tmp_path: Path) -> dict[str, Path]:
    files = {
        "big-int": b'{"id": ' + b"9" * 5000 + b"}",
        "deep": b"[" * 5000 + b"]" * 5000,
        "not-utf8": b'{"id": "\xff"}',
        "duplicate": b'{"id": "demo", "id": "other"}',
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / f"{name}.json"
        out[name].write_bytes(data)
    return out


def _one_line(code: int, err: str) -> None:
    assert code == 2 and err.startswith("authz: ") and "Traceback" not in err, err


@pytest.mark.parametrize("kind", ["big-int", "deep", "not-utf8", "duplicate"])
def test_org_import_and_explain_of_bad_json(
    bad: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    code, _, err = run("org", "import", str(bad[kind]), "--store", str(tmp_path / "s"))
    _one_line(code, err)
    code, _, err = run(
        "explain", "--org", str(bad[kind]), "--subject", "a", "--action", "view",
        "--resource", "estimate",
    )  # fmt: skip
    _one_line(code, err)


def test_a_corrupt_store_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "corrupt.sqlite3"
    store.write_bytes(b"not a database" * 100)
    for args in (("org", "list"), ("org", "export", "demo"), ("org", "import", str(DEMO))):
        _one_line(*run(*args, "--store", str(store))[::2])


def test_a_plan_as_of_the_end_of_time_is_one_line(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    run("org", "import", str(LEGACY), "--store", store)
    code, _, err = run(
        "migrate", "plan", "--org", "legacy", "--store", store, "--as-of", "9999-12-31"
    )
    _one_line(code, err)


@pytest.mark.parametrize("kind", ["deep", "not-utf8", "big-int"])
def test_migrate_apply_of_a_bad_plan_file_is_one_line(
    bad: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    store = str(tmp_path / "s")
    run("org", "import", str(LEGACY), "--store", store)
    code, _, err = run(
        "migrate", "apply", "--org", "legacy", "--plan", str(bad[kind]), "--as", "olga",
        "--store", store,
    )  # fmt: skip
    _one_line(code, err)


def test_an_org_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(65 << 20)
    code, _, err = run(
        "explain", "--org", str(huge), "--subject", "a", "--action", "view", "--resource", "x"
    )
    _one_line(code, err)
    assert "64 MiB" in err
