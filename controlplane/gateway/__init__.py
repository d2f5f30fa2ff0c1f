"""The embedded LLM gateway: an OpenAI-compatible proxy with an admin API and metrics.

It runs as its own process (`controlplane gateway serve`) and is the default target that
controlplane applies plans to.
"""
