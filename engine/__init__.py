"""suite-authz's engine: decide each CRM action on finance-suite data under the acting user's
own rights.

The engine is in rooms, each with a front door (its `__init__`) that lists what the adapters
(cli/, server/) may import, and all they may import (tests/unit/test_layers.py checks it):

- `engine.core`: the org, the request, the policy set, `Engine.decide`, the backends.
- `engine.store`: the org store (SQLite, PostgreSQL), policy publication, signed rows.
- `engine.sources`: where a policy set comes from (directory, store version, git revision).
- `engine.review`: lint, format, test suites, diff, crosscheck, proofs.
- `engine.serving`: the served set, the decision log, search.
- `engine.migration`: D12, moving an org to per-user rights.

docs/development.md has the map.
"""
