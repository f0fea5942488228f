"""Symbolic analysis of policy sets: questions answered for every request and every org the
model allows, not for a sample. See docs/policies.md ("Proving a change")."""
