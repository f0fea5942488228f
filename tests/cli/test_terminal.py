"""Progress and colour: on a terminal only, colour never under a non-empty NO_COLOR."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from suite_authz.cli import terminal
from tests.cli.runner import run


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_and_stays_silent_on_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    piped = io.StringIO()
    monkeypatch.setattr("sys.stderr", piped)
    with terminal.progress("comparing") as bar:
        assert bar is None
    assert piped.getvalue() == ""

    tty = _Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with terminal.progress("comparing") as bar:
        assert bar is not None
        bar(50, 100)
        bar(100, 100)
    assert "comparing" in tty.getvalue() and "100%" in tty.getvalue()
    with terminal.progress("comparing", quiet=True) as bar:
        assert bar is None


GREEN_ALLOW = "\x1b[32m\x1b[22mALLOW\x1b[0m"


def test_colour_on_a_terminal_only_and_never_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert terminal.coloured("ALLOW", "green") == "ALLOW"
    monkeypatch.setattr("sys.stdout", _Tty())
    assert terminal.coloured("ALLOW", "green") == GREEN_ALLOW
    monkeypatch.setenv("NO_COLOR", "1")
    assert terminal.coloured("ALLOW", "green") == "ALLOW"
    monkeypatch.setenv("NO_COLOR", "0")  # any value but an empty one, "0" and "false" too
    assert terminal.coloured("ALLOW", "green") == "ALLOW"


def test_an_empty_no_color_is_as_if_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # https://no-color.org: "when present and not an empty string"
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setattr("sys.stdout", _Tty())
    assert terminal.coloured("ALLOW", "green") == GREEN_ALLOW
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert terminal.coloured("ALLOW", "green") == "ALLOW"  # still a terminal's only


def test_a_bad_revision_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    code, _, err = run("diff", "no-such-rev", "HEAD")
    assert code == 2
    assert err == (
        "authz: base: `no-such-rev` is neither a policy directory nor a git revision with "
        "policies/ (git knows no commit `no-such-rev` here)\n"
    )
