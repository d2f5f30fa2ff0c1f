"""Promotion: moving a change forward through pull requests (canary steps, environments). Pure."""
