"""`handover audit`: handover readiness, L0 vendor-dependent to L4 owned, from evidence.

The library API is `engine.audit(path)` and `engine.audit_many(paths)`, which return `Report`
objects; `reports` renders them, one module per format. Checks live in `checks/`, one module
per pillar.
"""
