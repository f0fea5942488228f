"""Write .github/workflows/policy-review.yml: the workflow `authz init` gives a user
(cli/scaffold/), plus what only this repository needs.

    python tools/policy_review_workflow.py          # rewrite the workflow
    python tools/policy_review_workflow.py --check  # exit 1 if it has drifted from this

One template for both, so that what a user's pull request gets is what ours gets, and a fix to
one is a fix to the other; tests/cli/test_init.py fails when the committed file drifts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from suite_authz.cli.scaffold import Flavour, workflow

ROOT = Path(__file__).resolve().parent.parent

# This repository reviews suite-authz itself: it installs the checkout, not a release; a
# change to how policies are evaluated (engine, cli, the pinned cedarpy and oso) is a policy
# change too; its shipped suites cover every policy; and it keeps the legacy set checked.
PROJECT = Flavour(
    name="policy-review",
    header=(
        "# Made by tools/policy_review_workflow.py from the workflow `authz init` writes\n"
        "# (cli/scaffold/workflow.yml.in), with what only this repository needs: suite-authz\n"
        "# from this checkout, the paths that change how policies are evaluated, 100% policy\n"
        "# coverage, and the legacy set. Edit those, not this file: a test fails when it drifts."
    ),
    paths=(
        ("policies/**", "the policies, the schema, the catalogue and the suites"),
        ("engine/**", "how they are evaluated"),
        ("cli/**", ""),
        ("pyproject.toml", "cedarpy and oso versions"),
        (".github/workflows/policy-review.yml", ""),
    ),
    install='|\n          make install\n          echo "$PWD/.venv/bin" >> "$GITHUB_PATH"',
    review_args="--fail-on non-member-gain --min-coverage 100",
    extra_steps="""\
      - name: The legacy set
        if: always() && steps.install.outcome == 'success'
        run: |
          authz lint --policies policies/legacy
          authz fmt --check --policies policies/legacy
          authz test --policies policies/legacy --coverage --min-coverage 100
""",
)


def main(argv: list[str]) -> int:
    target = ROOT / PROJECT.file
    text = workflow(PROJECT)
    if argv == ["--check"]:
        if target.read_text(encoding="utf-8") != text:
            print(
                f"{target}: drifted from tools/policy_review_workflow.py; run it", file=sys.stderr
            )
            return 1
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
