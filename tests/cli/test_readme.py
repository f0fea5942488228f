"""The README and `--help` agree, and the README's commands run.

Every `authz` line in a ```sh block of the README is one of two kinds:
- a synopsis (it holds a placeholder: `[`, `|`, `...` or an upper-case word such as FILE):
  every option it names must be an option of that command, and every option of every command
  must appear in a synopsis of it;
- an example (no placeholder): run in order, in a scratch directory holding a copy of the
  policies, with its own store; it must exit 0, or with the code a trailing `# exit N` names.
`authz serve` examples are not run here (tests/api starts real servers).
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import POLICIES, ROOT

README = ROOT / "README.md"
_PLACEHOLDER = re.compile(r"\[|\||\.\.\.|\b[A-Z][A-Z_]{1,}(?:\[|\b)")
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def _commands() -> list[tuple[int, str]]:
    """(line number, command) of every `authz` command in a ```sh block: a trailing `\\` or
    an indented line after a command continues it."""
    out: list[tuple[int, str]] = []
    inside, joining = False, False
    for number, raw in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if raw.startswith("```"):
            inside, joining = raw.strip() == "```sh", False
            continue
        if not inside:
            continue
        text = raw.strip()
        if raw.startswith("authz "):
            out.append((number, text))
        elif out and (joining or (raw.startswith(" ") and text.startswith("["))):
            out[-1] = (out[-1][0], f"{out[-1][1]} {text}")
        else:
            joining = False
            continue
        joining = out[-1][1].endswith("\\")
        if joining:
            out[-1] = (out[-1][0], out[-1][1][:-1].rstrip())
    return out


def _code(line: str) -> str:
    return line.split("  #", 1)[0].split(" # ", 1)[0].strip()


def _resolve(words: list[str]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """The command path, the command, and the words after it."""
    command: click.Command = cli
    path: list[str] = []
    rest = words[1:]  # after `authz`
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    return tuple(path), command, rest


def _every_command() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    def walk(
        cmd: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, cmd

    yield from walk(cli, ())


def _options(command: click.Command) -> set[str]:
    names = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
    return names | {"--help", "-h"}


def _option(word: str) -> str:
    """`[--format` or `--org=FILE]` -> the option's name."""
    return re.sub(r"[=\[\]].*$", "", word.strip("[]"))


def _is_synopsis(code: str) -> bool:
    return bool(_PLACEHOLDER.search(code))


@pytest.mark.parametrize(
    ("path", "command"),
    list(_every_command()),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_help_runs(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {' '.join(path)}") or "Usage:" in result.output


def test_readme_synopses_name_only_real_options_and_every_option() -> None:
    named: dict[tuple[str, ...], set[str]] = {}
    problems = []
    for number, line in _commands():
        code = _code(line)
        words = code.split()
        path, command, rest = _resolve(words)
        if not path:
            problems.append(f"README.md:{number}: `{code}` names no authz command")
            continue
        given = {
            re.sub(r"[=\[\]].*$", "", w.strip("[]")) for w in rest if w.lstrip("[").startswith("-")
        }
        for option in sorted(given - _options(command)):
            problems.append(f"README.md:{number}: authz {' '.join(path)} has no option {option}")
        named.setdefault(path, set()).update(given)
    for path, command in _every_command():
        missing = _options(command) - {"--help", "-h"} - named.get(path, set())
        if missing:
            name = " ".join(path)
            problems.append(f"README.md: no synopsis of `authz {name}` names {sorted(missing)}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(POLICIES, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTHZ_STORE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    ran = 0
    for number, line in _commands():
        code = _code(line)
        if _is_synopsis(code) or code.startswith("authz serve"):
            continue
        expected = int(m[1]) if (m := _EXIT.search(line)) else 0
        result = CliRunner().invoke(cli, shlex.split(code)[1:])
        assert result.exit_code == expected, (
            f"README.md:{number}: `{code}` exited {result.exit_code}, not {expected}:\n"
            f"{result.stdout}{result.stderr}"
        )
        ran += 1
    assert ran >= 10


def _shown_runs() -> Iterator[tuple[int, str, list[str]]]:
    """```text blocks that show `$ authz ...` and what it printed (up to a `...` line)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if line.strip() == "```text" and lines[n + 1].startswith("$ authz "):
            shown = []
            for after in lines[n + 2 :]:
                if after.startswith("```") or after.strip() == "...":
                    break
                shown.append(after)
            yield n + 2, lines[n + 1][2:], shown


def _same_shape(text: str) -> str:
    """A policy-set version and a duration vary from run to run; the words do not."""
    text = re.sub(r"\b[0-9a-f]{16}\b", "VERSION", text)
    return re.sub(r"\b\d+\.\d+ s\b", "N s", text)


@pytest.mark.slow
def test_readme_shows_what_the_commands_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    shown_any = 0
    for number, command, shown in _shown_runs():
        result = CliRunner().invoke(cli, shlex.split(command)[1:])
        printed = [_same_shape(x) for x in result.stdout.splitlines()]
        assert printed[: len(shown)] == [_same_shape(x) for x in shown], f"README.md:{number}"
        shown_any += 1
    assert shown_any >= 2
