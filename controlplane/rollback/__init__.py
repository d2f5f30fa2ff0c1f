"""Rollback pull requests: when a policy fails, the fix arrives as a git PR, so git stays the
source of truth.

attribution, patch and proposal are pure; gitops (worktree, revert, push), forge (GitHub, GitLab,
Gitea clients) and rollbacker (the whole decision, recorded in the history) are the edge.
"""
