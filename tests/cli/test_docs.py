"""The documents agree with the code, and their commands run.

- docs/cli.md's reference half is what `tools/cli_reference.py` makes from `--help` now;
- every command in a ```sh block of README.md and docs/*.md runs, document by document, in
  order, in a scratch directory holding a copy of the policies and its own store, and exits 0
  or with the code a trailing `# exit N` names. A block that cannot run offline (a server, make)
  says why on the line before it: `<!-- not run: WHY -->`; any other command is an error here;
- every ```text block that shows `$ authz ...` shows what that command prints now, and so does
  every ```text block right after a ```sh block (what its last command printed, run where the
  document's commands run; a line `...` stands for any lines);
- every relative link, and its #anchor, leads somewhere; the README stays short.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import click
import pytest
from click.testing import CliRunner

from suite_authz.cli.main import cli
from tests.conftest import POLICIES, ROOT

README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"^<!-- not run: \S.*-->$")
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
_SHELL = re.compile(r"[|&;<>`$]|\(\)")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence
    info: str  # `sh`, `text`, ...
    lines: list[str]
    not_run: bool


def blocks(doc: Path) -> Iterator[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    n = 0
    while n < len(lines):
        if lines[n].startswith("```"):
            end = next(i for i in range(n + 1, len(lines)) if lines[i].startswith("```"))
            before = next((lines[i] for i in range(n - 1, -1, -1) if lines[i].strip()), "")
            not_run = bool(NOT_RUN.match(before.strip()))
            yield Block(doc, n + 1, lines[n][3:].strip(), lines[n + 1 : end], not_run)
            n = end
        n += 1


def commands(block: Block) -> Iterator[tuple[int, str]]:
    """(line, command) of each command of a ```sh block: comment lines skipped, a trailing
    `\\` joining the next line."""
    joined: list[str] = []
    start = 0
    for offset, raw in enumerate(block.lines, start=block.line + 1):
        text = raw.strip()
        if not joined and (not text or text.startswith("#")):
            continue
        if not joined:
            start = offset
        joined.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            yield start, " ".join(joined)
            joined = []


def _code(command: str) -> str:
    return command.split("  #", 1)[0].split(" # ", 1)[0].strip()


def _name(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def _runnable() -> Iterator[Block]:
    for doc in DOCS:
        for block in blocks(doc):
            if block.info == "sh" and not block.not_run:
                yield block


@pytest.mark.parametrize("doc", DOCS, ids=_name)
def test_every_command_block_runs_or_says_why_not(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(POLICIES, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTHZ_STORE", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    shown = _shown_after(doc)
    for block in (b for b in _runnable() if b.doc == doc):
        for line, command in commands(block):
            code = _code(command)
            where = f"{_name(doc)}:{line}: `{code}`"
            assert code.startswith("authz ") and not _SHELL.search(code), (
                f"{where}: only `authz` commands run here; mark the block "
                "`<!-- not run: WHY -->` if it cannot run offline"
            )
            expected = int(m[1]) if (m := _EXIT.search(command)) else 0
            result = CliRunner().invoke(cli, shlex.split(code)[1:])
            assert result.exit_code == expected, (
                f"{where} exited {result.exit_code}, not {expected}:\n"
                f"{result.stdout}{result.stderr}"
            )
        if block.line in shown:
            text = shown[block.line]
            assert _printed_as_shown(result.stdout.splitlines(), text.lines), (
                f"{_name(doc)}:{text.line}: the output shown is not what `{code}` prints:\n"
                f"{result.stdout}"
            )


def _shown_after(doc: Path) -> dict[int, Block]:
    """The ```text block right after each ```sh block (blank lines between at most), by the
    sh block's line: what its last command prints."""
    found = list(blocks(doc))
    lines = doc.read_text(encoding="utf-8").splitlines()
    out = {}
    for before, after in itertools.pairwise(found):
        shows_its_own = bool(after.lines) and after.lines[0].startswith("$ ")
        if (
            before.info == "sh"
            and not before.not_run
            and after.info == "text"
            and not shows_its_own
        ):
            between = lines[before.line + len(before.lines) + 1 : after.line - 1]
            if not any(x.strip() for x in between):
                out[before.line] = after
    return out


def _printed_as_shown(printed: list[str], shown: list[str]) -> bool:
    """`printed` begins as `shown` does, line for line, a shown `...` line standing for any
    lines (what is shown may stop before the output does)."""
    got = [_same_shape(x).rstrip() for x in printed]
    want = [_same_shape(x).rstrip() for x in shown]

    def match(i: int, j: int) -> bool:
        if j == len(want):
            return True
        if want[j].strip() == "...":
            return any(match(k, j + 1) for k in range(i, len(got) + 1))
        return i < len(got) and got[i] == want[j] and match(i + 1, j + 1)

    return match(0, 0)


def test_shown_output_matching_can_fail() -> None:
    assert _printed_as_shown(["a", "b", "c", "d"], ["a", "  ...", "d"])
    assert not _printed_as_shown(["a", "b", "c"], ["a", "c"])
    assert not _printed_as_shown(["a", "b"], ["a", "b", "c"])
    assert _printed_as_shown(["a", "b", "c"], ["a", "b"])
    assert _printed_as_shown(["plan_id 87dfca3f2358a1b2c3"], ["plan_id 0123456789abcdef99"])


def test_the_documents_hold_commands_that_run() -> None:
    """The test above cannot pass by finding nothing."""
    assert sum(1 for block in _runnable() for _ in commands(block)) >= 25


def test_a_block_that_is_not_run_says_why() -> None:
    text = "x\n<!-- not run: needs a server -->\n```sh\ncurl x\n```\n```sh\nauthz y\n```\n"
    found = list(blocks(_write(text)))
    assert [b.not_run for b in found] == [True, False]
    assert [c for _, c in commands(found[1])] == ["authz y"]


def _write(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "doc.md"
    path.write_text(text, encoding="utf-8")
    return path


def _shown_runs() -> Iterator[tuple[str, str, list[str]]]:
    """```text blocks that show `$ authz ...` and what it printed (up to a `...` line)."""
    for doc in DOCS:
        for block in blocks(doc):
            if block.info == "text" and block.lines and block.lines[0].startswith("$ authz "):
                shown = []
                for after in block.lines[1:]:
                    if after.strip() == "...":
                        break
                    shown.append(after)
                yield f"{_name(doc)}:{block.line}", block.lines[0][2:], shown


def _same_shape(text: str) -> str:
    """A policy-set version and a duration vary from run to run; the words do not."""
    text = re.sub(r"\b[0-9a-f]{16}\b", "VERSION", text)
    text = re.sub(r"\b[0-9a-f]{12,}(\.\.\.)?", "HEX", text)  # a plan id, a digest
    return re.sub(r"\b\d+\.\d+ s\b", "N s", text)


def test_shown_output_is_what_the_command_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    shown = list(_shown_runs())
    assert len(shown) >= 2
    for where, command, lines in shown:
        result = CliRunner().invoke(cli, shlex.split(command)[1:])
        printed = [_same_shape(x) for x in result.stdout.splitlines()]
        assert printed[: len(lines)] == [_same_shape(x) for x in lines], where


def _reference_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "tools/cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_what_help_prints() -> None:
    tool = _reference_tool()
    assert (ROOT / "docs/cli.md").read_text(encoding="utf-8") == tool.current(), (
        "docs/cli.md has drifted from `authz --help`: run `make docs`"
    )


def test_the_reference_would_see_a_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    tool = _reference_tool()
    explain = cli.get_command(click.Context(cli), "explain")  # the module's one command object
    monkeypatch.setattr(explain, "help", "A changed docstring.")
    assert "A changed docstring." in tool.reference()
    assert (ROOT / "docs/cli.md").read_text(encoding="utf-8") != tool.current()


def _every_command() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    def walk(
        cmd: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        if isinstance(cmd, click.Group):
            # through list_commands/get_command: the top group loads its commands when asked
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from walk(sub, (*path, name))
        else:
            yield path, cmd

    yield from walk(cli, ())


@pytest.mark.parametrize(
    ("path", "command"),
    list(_every_command()),
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_every_help_runs(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    inside, out = False, set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and (m := re.match(r"^#{1,6} (.*)$", line)):
            out.add(_slug(m[1]))
    return out


def test_every_relative_link_leads_somewhere() -> None:
    problems = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                problems.append(f"{_name(doc)}: {target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                problems.append(f"{_name(doc)}: {target}: no such heading")
    assert problems == []


def test_the_readme_is_one_screen_or_three() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) < 200


def test_the_metrics_documented_are_the_metrics_served() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from suite_authz.server.metrics import Metrics, _WorkerProcess

    served = set(re.findall(r"^# TYPE (authz_\w+)", Metrics().render().decode(), flags=re.M))
    workers = CollectorRegistry()  # what each worker adds under --workers N
    _WorkerProcess(workers).sync()
    served |= set(re.findall(r"^# TYPE (authz_\w+)", generate_latest(workers).decode(), re.M))
    text = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(authz_\w+)", text))
    assert documented == served
