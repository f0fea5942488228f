"""suite-authz: who may do what when a CRM acts on finance-suite data, and as whom.

The one top-level import name of the distribution. Its parts live at the top of the
repository and are linked in here, so that the repository reads as the product (policies/,
engine/, cli/, server/, client/) while an install puts nothing but `suite_authz` on the path:

- `suite_authz.engine`: the library, in rooms (`engine.core`, `engine.store`, ...), each
  entered by its front door (its `__init__`);
- `suite_authz.cli`: the `authz` command, and `suite_authz.server`: the AuthZEN sidecar,
  adapters over the rooms' front doors only;
- `suite_authz.client`: the enforcement point's client for the CRM (needs only httpx);
- `suite_authz/policies`: the shipped policy set, its examples, history and old model.
"""
