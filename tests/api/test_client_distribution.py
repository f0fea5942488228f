"""The light distribution (`client/pyproject.toml`, suite-authz-client) ships every file of the
client and depends on httpx alone: a module added to client/ and left out of its wheel would
install a client that fails at import."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT

CLIENT = ROOT / "client"


def test_the_light_wheel_ships_every_file_of_the_client() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())
    shipped = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    files = {p.name for p in CLIENT.iterdir() if p.suffix == ".py" or p.name == "py.typed"}
    assert set(shipped) == files
    assert all(shipped[name] == f"suite_authz/client/{name}" for name in files)


def test_the_light_distribution_needs_only_httpx() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "suite-authz-client"
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx"]
    main = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert main["optional-dependencies"]["client"] == project["dependencies"]
