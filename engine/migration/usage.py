"""Finance-module activity per user, the evidence D12's automatic enrolment rests on.

Two forms, the same columns (docs/migration.md):
- CSV with a header: `user,product,module,events,last_used`
- JSON: a list of objects with those keys.

`product` may be empty when the module belongs to one product only; for a module two products
share (invoices, customers) it must say which, unless the org runs just one of them. `events`
is a count (> 0 counts as use); `last_used` an ISO date. Every row is checked, and every
problem is reported by row, so a file is refused whole, never half-read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from suite_authz.engine.core.catalogue import Catalogue
from suite_authz.engine.core.errors import AuthzError, one_line
from suite_authz.engine.core.model import Org
from suite_authz.engine.core.reading import decode_json, read_file

COLUMNS = ("user", "product", "module", "events", "last_used")


class InvalidUsage(AuthzError):
    """A usage file that cannot be read as finance activity; nothing of it is used."""


@dataclass(frozen=True, slots=True)
class Activity:
    user: str
    product: str
    module: str
    events: int
    last_used: date


def load_usage(source: Path | str | list[Any], org: Org, catalogue: Catalogue) -> list[Activity]:
    """Read usage from a file (by extension: .json, else CSV), CSV or JSON text, or rows."""
    where = ""
    if isinstance(source, Path):
        where = f"{source}: "
        text = read_file(source, "usage", InvalidUsage)
        rows = _json_rows(text, where) if source.suffix == ".json" else _csv_rows(text, where)
    elif isinstance(source, str):
        stripped = source.lstrip()
        rows = _json_rows(source, where) if stripped[:1] in "[{" else _csv_rows(source, where)
    else:
        rows = list(enumerate(source, start=1))
    problems: list[str] = []
    out = []
    users = {u.id for u in org.users}
    runs = org_products(org, catalogue)
    for label, row in rows:
        activity = _activity(row, org.id, users, runs, catalogue, problems, f"{where}row {label}")
        if activity is not None:
            out.append(activity)
    if problems:
        raise InvalidUsage(one_line("invalid usage", problems), tuple(problems))
    return out


def _json_rows(text: str, where: str) -> list[tuple[int, Any]]:
    data = decode_json(text, where, InvalidUsage)
    if not isinstance(data, list):
        raise InvalidUsage(f"{where}usage must be a JSON list of rows, got {type(data).__name__}")
    return list(enumerate(data, start=1))


def _csv_rows(text: str, where: str) -> list[tuple[int, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    missing = [c for c in COLUMNS if c not in header and c != "product"]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        raise InvalidUsage(
            f"{where}header must be {','.join(COLUMNS)} (product may be left out); "
            + "; ".join(
                [f"missing {', '.join(missing)}"] * bool(missing)
                + [f"unknown {', '.join(unknown)}"] * bool(unknown)
            )
        )
    # Row labels are file lines, the header being line 1.
    return [(reader.line_num, row) for row in reader]


def _activity(
    row: Any,
    org_id: str,
    users: set[str],
    runs: tuple[str, ...],
    catalogue: Catalogue,
    problems: list[str],
    where: str,
) -> Activity | None:
    if not isinstance(row, dict):
        problems.append(f"{where}: must be an object with {', '.join(COLUMNS)}")
        return None
    extra = sorted(str(k) for k in row if k not in COLUMNS)
    if extra:
        problems.append(f"{where}: unknown field {', '.join(extra)}")
        return None
    before = len(problems)
    user = _text(row.get("user"))
    if not user:
        problems.append(f"{where}.user: required")
    elif user not in users:
        problems.append(f"{where}.user: `{user}` is not a user of org `{org_id}`")
    module = _text(row.get("module"))
    info = catalogue.modules.get(module)
    if info is None:
        problems.append(
            f"{where}.module: `{module}` is not a finance module ({', '.join(catalogue.modules)})"
        )
    product = _text(row.get("product"))
    if info is not None:
        if product and product not in info.products:
            problems.append(
                f"{where}.product: `{product}` does not own {info.plural} "
                f"({', '.join(info.products)} do)"
            )
        elif product and product not in runs:
            problems.append(f"{where}.product: org `{org_id}` does not run `{product}`")
        elif not product:
            owners = [p for p in info.products if p in runs]
            if len(owners) != 1:
                problems.append(
                    f"{where}.product: {info.plural} belong to "
                    f"{' and '.join(catalogue.label(p) for p in info.products)}; say which"
                )
            else:
                product = owners[0]
    events = _count(row.get("events"), f"{where}.events", problems)
    last_used = _date(row.get("last_used"), f"{where}.last_used", problems)
    if len(problems) > before or events is None or last_used is None:
        return None
    return Activity(user, product, module, events, last_used)


def org_products(org: Org, catalogue: Catalogue) -> tuple[str, ...]:
    """The finance products the org runs: those it has roles or seats in, in catalogue order."""
    found = {r.product for r in org.roles}
    for user in org.users:
        found.update(m.product for m in user.memberships)
        found.update(e.product for e in user.enrolments)
    return tuple(p for p in catalogue.products if p in found)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _count(value: Any, where: str, problems: list[str]) -> int | None:
    count = int(value.strip()) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        problems.append(f"{where}: must be a whole number >= 0, got {value!r}")
        return None
    return count


def _date(value: Any, where: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        problems.append(f"{where}: must be a date (YYYY-MM-DD), got {value!r}")
        return None
