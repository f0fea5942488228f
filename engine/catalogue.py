"""The vocabulary of DOMAIN: products, modules, actions. Modules come from the policy set's
`modules.json`, so a policy change and a catalogue change are versioned together."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.errors import PolicyError

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
# DOMAIN's rules by id, in its own words (../shared/DOMAIN.md).
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


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    name: str
    entity: str
    products: tuple[str, ...]
    singular: str
    plural: str
    transaction: bool


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
            )
            for name, m in raw["modules"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PolicyError(f"{path}: not a valid module catalogue: {exc}") from exc
    for name, info in modules.items():
        unknown = [p for p in info.products if p not in products]
        if unknown:
            raise PolicyError(f"{path}: modules.{name}.products: unknown product `{unknown[0]}`")
    return Catalogue(products=products, modules=modules)
