"""How the wheel carries the repository's parts: engine/, cli/, server/, client/ and policies/
sit at the top of the repository (it reads as the product), and an install has them under the
one import name, suite_authz/. In a checkout, suite_authz/ links to them; a source
distribution cannot carry links (the sdist drops them, and a wheel built from it held only
suite_authz/__init__.py), so the wheel is made from the directories themselves, mapped here.
The editable install needs no mapping: it exposes suite_authz/, whose links reach the parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PARTS = ("engine", "cli", "server", "client", "policies")
# the client's own distribution (suite-authz-client) is built from client/; its project file
# is not part of this one
LEFT_OUT = {"client/pyproject.toml"}


class PartsHook(BuildHookInterface):
    PLUGIN_NAME = "suite-authz-parts"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version != "standard":
            return
        root = Path(self.root)
        for part in PARTS:
            source = root / part
            if not source.is_dir():
                raise RuntimeError(f"{source}: missing: the wheel needs every part ({PARTS})")
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(root).as_posix()
                if (
                    path.is_file()
                    and relative not in LEFT_OUT
                    and "__pycache__" not in path.parts
                    and path.suffix != ".pyc"
                ):
                    build_data["force_include"][str(path)] = f"suite_authz/{relative}"
