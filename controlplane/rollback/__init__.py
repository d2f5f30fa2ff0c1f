"""Rollback pull requests, the pure part: when a policy fails, the fix arrives as a git PR, so
git stays the source of truth.

`attribution` (which applied commit to blame, when the breach began), `patch` (the minimal edit
of a route), `proposal` (the PR as a value, with its dedupe marker) and `decision` (what a failed
policy led to). Git, the forge and the history are adapters; `controlplane.engine.remediation`
composes them into the rollbacker.
"""
