"""The package a user installs: `python -m build` makes a source distribution and a wheel (the
wheel built from the sdist, as an index's user would build it), each installs into a fresh
virtualenv with its dependencies from the package index, and the installed `authz`, run
outside the repository, validates, explains a decision on the shipped demo org and serves it.
Before hatch_build.py the sdist dropped suite_authz/'s links and its wheel held only
suite_authz/__init__.py: `authz validate` failed with ModuleNotFoundError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.api.test_process import _free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    found = {"sdist": list(out.glob("*.tar.gz")), "wheel": list(out.glob("*.whl"))}
    assert all(len(paths) == 1 for paths in found.values()), found
    return {kind: paths[0] for kind, paths in found.items()}


def test_the_wheel_holds_every_part_under_one_import_name(artefacts: dict[str, Path]) -> None:
    names = zipfile.ZipFile(artefacts["wheel"]).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"suite_authz", f"suite_authz-{VERSION}.dist-info"}
    for part in ("engine", "cli", "server", "client"):
        assert f"suite_authz/{part}/__init__.py" in names, part
    assert "suite_authz/policies/schema.cedarschema" in names
    assert "suite_authz/policies/examples/demo-org.json" in names
    assert "suite_authz/server/ui/templates/matrix.html" in names
    # the client's own distribution's project file is not this one's
    assert "suite_authz/client/pyproject.toml" not in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_the_installed_package_validates_explains_and_serves(
    kind: str, artefacts: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path).check_returncode()
    # uv where `make` installed it (it installs the same wheel's requirements in seconds, pip
    # in half a minute); pip for a checkout set up with INSTALLER=pip
    uv = Path(sys.executable).parent / "uv"
    installer = (
        [str(uv), "pip", "install", "--python", str(venv / "bin" / "python")]
        if uv.is_file()
        else [str(venv / "bin" / "pip"), "install"]
    )
    installed = _run([*installer, "-q", str(artefacts[kind])], tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]
    authz = str(venv / "bin" / "authz")
    here = tmp_path / "elsewhere"  # no policies/, no checkout: only what the install holds
    here.mkdir()

    version = _run([authz, "--version"], here)
    assert version.returncode == 0, version.stderr
    assert f"authz (suite-authz) {VERSION}" in version.stdout
    shipped = Path(version.stdout.split("shipped policies:")[1].split()[0])
    assert shipped.is_relative_to(venv), shipped  # the installed copy, not the checkout's
    demo = shipped / "examples" / "demo-org.json"

    validate = _run([authz, "validate", "--shipped", "--org", str(demo)], here)
    assert validate.returncode == 0, validate.stdout + validate.stderr

    ask = ["--subject", "asha", "--action", "delete", "--resource", "estimate:est-1"]
    explain = _run([authz, "explain", "--org", str(demo), *ask, "--format", "json"], here)
    assert explain.returncode == 1, explain.stderr  # a deny, by D4 (the rule book's worked example)
    answer = json.loads(explain.stdout)
    assert answer["decision"] == "deny" and "D4" in answer["rules"], answer

    store = here / "orgs.sqlite3"
    imported = _run([authz, "org", "import", str(demo), "--store", str(store)], here)
    assert imported.returncode == 0, imported.stderr
    port = _free_port()
    with subprocess.Popen(
        [authz, "serve", "--store", str(store), "--port", str(port)],
        cwd=here, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    ) as server:  # fmt: skip
        try:
            ready = _ready(port, server)
            assert ready["status"] == "ready", ready
        finally:
            server.terminate()
            server.wait(timeout=30)


def _ready(port: int, server: subprocess.Popen[str]) -> dict[str, object]:
    """/readyz once it answers 200; the server's stderr if it exits first."""
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as got:
                body: dict[str, object] = json.loads(got.read())
                return body
        except OSError:
            if server.poll() is not None:
                raise AssertionError(f"authz serve exited: {server.stderr.read()}") from None  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise AssertionError("authz serve was not ready in 120 s") from None
            time.sleep(0.2)
