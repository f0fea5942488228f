"""What a pull request's review costs: `authz diff BASE HEAD --prove` and `authz verify`, as a
CI step runs them (whole commands, start-up included), this checkout against a baseline
checkout in the same run, alternating, so that the machine's noise falls on both alike.

    python bench/bench_review.py --baseline /tmp/wt   # a `git worktree add /tmp/wt COMMIT`
    python bench/bench_review.py --rounds 5

The questions: the CLI's start-up (`authz --version`, and `authz explain` of one request on the
demo org: what a user or a script pays per call); the shipped history's 2025-05 set against the
shipped set (18 groups), the shipped set against itself (nothing changes), a set whose D1
forbid is turned around (`!=` to `==`: a change that touches ~340 groups, the prover's worst
case), and `authz verify`. The baseline runs from its own source (PYTHONPATH), with this
checkout's installed packages. Prints, per question, the range of wall seconds over the rounds
and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _flipped(into: Path) -> Path:
    """The shipped set with own-identity-only's `!=` turned into `==`."""
    target = into / "flipped"
    shutil.copytree(ROOT / "policies", target, ignore=shutil.ignore_patterns("history"))
    path = target / "identity.cedar"
    text = path.read_text(encoding="utf-8")
    old = "context.acting_as != principal"
    if old not in text:
        raise SystemExit(f"{path}: `{old}` not found: the benchmark's mutation needs updating")
    path.write_text(text.replace(old, "context.acting_as == principal", 1), encoding="utf-8")
    return target


def _questions(flipped: Path) -> dict[str, list[str]]:
    # directories, not `history:`/`shipped`: a baseline older than those names reads only these
    history, shipped = str(ROOT / "policies" / "history" / "2025-05"), str(ROOT / "policies")
    demo = str(ROOT / "policies" / "examples" / "demo-org.json")
    return {
        "start-up: --version": ["--version"],
        "start-up: explain on the demo org": [
            "explain",
            "--org",
            demo,
            "--subject",
            "asha",
            "--action",
            "delete",
            "--resource",
            "estimate:est-1",
            "--format",
            "text",
        ],
        "diff --prove 2025-05 -> shipped": ["diff", history, shipped, "--prove"],
        "diff --prove shipped -> shipped": ["diff", shipped, shipped, "--prove"],
        "diff --prove D1 forbid flipped": ["diff", shipped, str(flipped), "--prove"],
        "verify": ["verify", "--shipped"],
    }


def _run(source: Path, args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(source)}
    command = [sys.executable, "-m", "suite_authz.cli.main", *args]
    if args[0] == "diff":
        command += ["--format", "text"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: a change found, which is what a diff reports
        raise SystemExit(f"{source}: authz {' '.join(args)} exited {done.returncode}:\n"
                         f"{done.stderr[-2000:]}")  # fmt: skip
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout (a git worktree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="run the questions whose name holds this")
    options = parser.parse_args()
    sides = {"this": ROOT}
    if options.baseline is not None:
        sides["baseline"] = options.baseline.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-review-") as work:
        questions = _questions(_flipped(Path(work)))
        if options.only:
            questions = {k: v for k, v in questions.items() if options.only in k}
        times: dict[tuple[str, str], list[float]] = {}
        for n in range(options.rounds):
            for name, args in questions.items():
                for side, source in sides.items():
                    took = _run(source, args, Path(work))
                    times.setdefault((name, side), []).append(took)
                    print(f"round {n + 1}: {name} [{side}] {took:.2f} s", file=sys.stderr)
    print(f"{'question':36} " + " ".join(f"{s:>16}" for s in sides) + "  ratio")
    for name in questions:
        cells, medians = [], []
        for side in sides:
            got = times[(name, side)]
            cells.append(f"{min(got):6.2f}-{max(got):6.2f} s")
            medians.append(statistics.median(got))
        ratio = f"  {medians[0] / medians[1]:.2f}x" if len(medians) == 2 else ""
        print(f"{name:36} " + " ".join(f"{c:>16}" for c in cells) + ratio)


if __name__ == "__main__":
    main()
