"""The org store: orgs and policy versions kept with their history, in SQLite or PostgreSQL.

org_store (`OrgStore`: import, versions, audit), db (the interface both drivers speak, and
their errors), sqlite and postgres (the drivers), drivers (which driver a location opens),
schema (the tables, one DDL for both, and its migrations), publication (policy versions
published and activated atomically), signing (signed rows), check (`authz store check`).

This `__init__` is the room's front door: the names adapters may import from it.
"""

from typing import TYPE_CHECKING

from suite_authz.engine.lazy_door import lazy_door

if TYPE_CHECKING:
    from suite_authz.engine.store.check import StoreReport, check_store
    from suite_authz.engine.store.db import Notices, PoolSettings, StoreError, StoreUnreachable
    from suite_authz.engine.store.org_store import (
        STORE_ENV,
        AppliedChange,
        ChangeRow,
        OrgStore,
        StaleSnapshot,
        StoredOrg,
        StoreLocation,
        StoreSchemaError,
        default_store_path,
        store_location,
    )
    from suite_authz.engine.store.publication import (
        PolicyVersion,
        activate_policy_version,
        active_version,
        check_signed,
        policy_signature,
        policy_versions,
        publish_policies,
        resolve_policy_version,
        stored_source,
    )
    from suite_authz.engine.store.schema import STORE_SCHEMA
    from suite_authz.engine.store.signing import (
        KeyFileError,
        Signer,
        UnverifiedRow,
        Verifier,
        generate_keys,
        load_signer,
        load_verifier,
    )

__getattr__, __dir__ = lazy_door(__name__, __file__)

__all__ = [
    "STORE_ENV",
    "STORE_SCHEMA",
    "AppliedChange",
    "ChangeRow",
    "KeyFileError",
    "Notices",
    "OrgStore",
    "PolicyVersion",
    "PoolSettings",
    "Signer",
    "StaleSnapshot",
    "StoreError",
    "StoreLocation",
    "StoreReport",
    "StoreSchemaError",
    "StoreUnreachable",
    "StoredOrg",
    "UnverifiedRow",
    "Verifier",
    "activate_policy_version",
    "active_version",
    "check_signed",
    "check_store",
    "default_store_path",
    "generate_keys",
    "load_signer",
    "load_verifier",
    "policy_signature",
    "policy_versions",
    "publish_policies",
    "resolve_policy_version",
    "store_location",
    "stored_source",
]
