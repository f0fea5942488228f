"""The vocabulary of the rule book (docs/rules.md): products, modules, actions. Modules come
from the policy set's `modules.json`, so a policy change and a catalogue change are versioned
together."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from suite_authz.engine.core.errors import PolicyError
from suite_authz.engine.core.suggestions import did_you_mean

RECORD_ACTIONS: tuple[str, ...] = (
    "view",
    "create",
    "edit",
    "delete",
    "approve",
    "submit",
    "send_email",
    "convert",
    "void",
)
# D12: admin actions and the one resource type each applies to.
ADMIN_ACTIONS: dict[str, str] = {"enrol_integration_user": "user", "run_migration": "org"}
ACTIONS: tuple[str, ...] = RECORD_ACTIONS + tuple(ADMIN_ACTIONS)
CHANNELS: tuple[str, ...] = ("crm", "direct")
# The rules by id, as docs/rules.md titles them.
RULE_TITLES: dict[str, str] = {
    "D1": "own identity, never borrowed",
    "D2": "no membership, no access",
    "D3": "CRM profile gate",
    "D4": "integration-user rights in Books",
    "D5": "no direct access for integration users",
    "D6": "unified permissions for members",
    "D7": "field-level permissions",
    "D8": "approval process",
    "D9": "union across products",
    "D10": "Subscriptions in the CRM",
    "D11": "email under one's own name",
    "D12": "enrolment and migration",
}
ADMIN_TYPES: tuple[str, ...] = ("user", "org")
# R4: a module's fields are spelled one way, lower case, as the catalogue lists them.
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,127}$")


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str
    entity: str
    products: tuple[str, ...]
    singular: str
    plural: str
    transaction: bool
    fields: tuple[str, ...] = ()  # R4: every field the module has, as spelled here

    def field_problem(self, name: str) -> str | None:
        """Why `name` is not a field of this module (exact match only), or None if it is."""
        if name in self.fields:
            return None
        hint = did_you_mean(name, self.fields)
        return f"`{name}` is not a field of {self.plural}{hint} (fields: {', '.join(self.fields)})"


@dataclass(frozen=True, slots=True)
class Catalogue:
    products: dict[str, str]  # id -> label
    modules: dict[str, ModuleInfo]

    @property
    def resource_types(self) -> tuple[str, ...]:
        return (*self.modules, *ADMIN_TYPES)

    def label(self, product: str) -> str:
        return self.products.get(product, product)


def parse_catalogue(text: str, path: str) -> Catalogue:
    """`path` names where the text came from, in every message."""
    try:
        raw: Any = json.loads(text)
        products = {str(p): str(v["label"]) for p, v in raw["products"].items()}
        modules = {
            str(name): ModuleInfo(
                name=str(name),
                entity=str(m["entity"]),
                products=tuple(str(p) for p in m["products"]),
                singular=str(m["singular"]),
                plural=str(m["plural"]),
                transaction=bool(m["transaction"]),
                fields=_fields(m.get("fields"), f"{path}: modules.{name}.fields"),
            )
            for name, m in raw["modules"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PolicyError(f"{path}: not a valid module catalogue: {exc}") from exc
    for name, info in modules.items():
        if not FIELD_NAME.match(name):
            raise PolicyError(f"{path}: modules.{name}: a module name is lower case, a-z, 0-9, _")
        unknown = [p for p in info.products if p not in products]
        if unknown:
            raise PolicyError(f"{path}: modules.{name}.products: unknown product `{unknown[0]}`")
    return Catalogue(products=products, modules=modules)


def _fields(raw: Any, where: str) -> tuple[str, ...]:
    """R4: a non-empty list of distinct lower-case names; anything else refuses the catalogue."""
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{where}: must be a non-empty list of field names")
    for name in raw:
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise PolicyError(f"{where}: {name!r} is not a field name (lower case, a-z, 0-9, _)")
    if len(set(raw)) != len(raw):
        twice = next(n for n in raw if raw.count(n) > 1)
        raise PolicyError(f"{where}: `{twice}` is listed twice")
    return tuple(raw)
