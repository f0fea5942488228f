"""authz crosscheck and authz explain --backend polar through click's runner."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.runner import explain, run
from tests.conftest import DEMO, POLICIES


def test_crosscheck_on_the_demo_org_agrees_and_exits_0() -> None:
    code, out, _ = run("crosscheck", "--org", str(DEMO), "--quiet")
    assert code == 0
    last = out.strip().splitlines()[-1]
    compared = int(last.split()[0])
    assert compared >= 500 and " requests compared, 0 disagreements" in last


def test_crosscheck_prints_each_disagreement_and_exits_1(tmp_path: Path) -> None:
    target = tmp_path / "p"
    shutil.copytree(POLICIES, target, ignore=shutil.ignore_patterns("history", "examples"))
    grants = target / "polar" / "grants.polar"
    # Polar widened: integration users of Books may delete. Cedar is unchanged.
    grants.write_text(
        grants.read_text().replace(
            'action in ["view", "create", "edit"] and\n    rec.module in ["estimate"',
            'action in ["view", "create", "edit", "delete"] and\n    rec.module in ["estimate"',
        )
    )
    code, out, _ = run("crosscheck", "--org", str(DEMO), "--policies", str(target), "--quiet")
    assert code == 1
    assert "disagreement 1: " in out and '"action": "delete"' in out
    assert "  cedar: deny (D4)" in out and "  polar: allow as" in out
    assert out.strip().splitlines()[-1].split(", ")[1].startswith("20 disagreements")


def test_explain_through_polar_gives_the_worked_example() -> None:
    code, out, _ = explain(
        "--subject asha --action delete --resource estimate:est-1 --backend polar"
    )
    assert code == 1
    assert "integration users of Books may view, create and edit estimates, not delete them" in out


def test_unknown_backend_exits_2() -> None:
    code, _, err = explain("--subject asha --action view --resource estimate --backend opa")
    assert code == 2 and "opa" in err
