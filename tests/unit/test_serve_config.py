"""The bind rules live with the configuration the app is built from, not in the command that
usually builds it: uvicorn can start `suite_authz.server.main:factory` directly, and a
configuration that would serve decisions to the network unguarded must refuse there too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from suite_authz.engine.core import AuthzError
from suite_authz.server.main import CONFIG_ENV, ServeConfig, factory
from tests.cli.runner import run

TOKEN = "t" * 32


def test_loopback_without_a_token_is_valid() -> None:
    ServeConfig().validate()
    ServeConfig(host="::1").validate()
    ServeConfig(host="localhost", token="short").validate()


def test_beyond_loopback_without_a_token_is_refused() -> None:
    config = ServeConfig(host="0.0.0.0", public_url="https://pdp.example.com")
    with pytest.raises(AuthzError, match="binds to loopback only"):
        config.validate()


def test_beyond_loopback_without_a_token_is_allowed_when_asked_for() -> None:
    ServeConfig(host="0.0.0.0", public_url="https://pdp.example.com", allow_remote=True).validate()


def test_a_short_token_beyond_loopback_is_refused_naming_where_it_came_from() -> None:
    config = ServeConfig(
        host="10.0.0.5", token="short", token_source="/etc/authz/token", public_url="https://p.x"
    )
    with pytest.raises(
        AuthzError, match=r"^/etc/authz/token: a token of 5 characters.*at least 16"
    ):
        config.validate()


def test_beyond_loopback_the_public_url_is_required() -> None:
    with pytest.raises(AuthzError, match=r"--public-url https://"):
        ServeConfig(host="0.0.0.0", token=TOKEN).validate()


@pytest.mark.parametrize("bad", ["http://pdp.example.com", "https://pdp.example.com/?x=1"])
def test_a_bad_public_url_is_refused(bad: str) -> None:
    with pytest.raises(AuthzError, match=re.escape(f"--public-url {bad}:")):
        ServeConfig(public_url=bad).validate()


def test_the_uvicorn_factory_refuses_a_remote_bind_without_a_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`uvicorn --factory suite_authz.server.main:factory` reads the configuration from the
    environment; a bad one must stop it before anything is served."""
    raw = {"host": "0.0.0.0", "port": 8181, "public_url": "https://pdp.example.com"}
    monkeypatch.setenv(CONFIG_ENV, json.dumps(raw))
    with pytest.raises(AuthzError, match="binds to loopback only"):
        factory()


def test_the_uvicorn_factory_without_a_configuration_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(AuthzError, match=CONFIG_ENV):
        factory()


def test_a_bad_shard_is_refused_before_anything_loads(tmp_path: Path) -> None:
    with pytest.raises(AuthzError, match=r"--shard 4/3: give I/N"):
        ServeConfig(shard="4/3").validate()
    assert ServeConfig(shard="3/3").validate().shard == "3/3"
    code, _, err = run("serve", "--store", str(tmp_path / "none.sqlite3"), "--shard", "1/0")
    assert code == 2 and "--shard 1/0: give I/N" in err


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ({"fleet": ("https://a.example",)}, "give --shard I/N too"),
        ({"shard": "1/3", "fleet": ("https://a.example", "https://b.example")}, "2 URLs for 3"),
        ({"shard": "1/2", "fleet": ("https://a.example", "ftp://b.example")}, "--fleet ftp://"),
        ({"shard": "1/2", "fleet": ("https://a.example", "https://b?x=1")}, "no query"),
    ],
)
def test_a_fleet_must_name_one_sidecar_per_shard(config: dict[str, object], said: str) -> None:
    with pytest.raises(AuthzError, match=re.escape(said)):
        ServeConfig(**config).validate()  # type: ignore[arg-type]
    fleet = ("https://a.example", "http://127.0.0.1:8182")
    assert ServeConfig(shard="2/2", fleet=fleet).validate().fleet == fleet
