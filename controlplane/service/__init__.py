"""The reconciler service: git fetch → load → validate → read live → plan → apply → record.

`controlplane serve` runs one process with the FastAPI app, the reconciler and the APScheduler
scheduler.
"""
