"""Renderers: values in, text out. Plans (text, JSON, Markdown), validations (text, JSON, GitHub
annotations), evaluations, apply results, rollback pull requests and service status. Pure."""

from controlplane.render.apply import render_apply
from controlplane.render.evaluations import render_evaluations
from controlplane.render.plan import render_plan_json, render_plan_markdown, render_plan_text
from controlplane.render.pull_request import (
    render_body,
    render_commit_message,
    render_pull_request_file,
    render_title,
)
from controlplane.render.status import render_status
from controlplane.render.validation import (
    render_validation_github,
    render_validation_json,
    render_validation_text,
)

__all__ = [
    "render_apply",
    "render_body",
    "render_commit_message",
    "render_evaluations",
    "render_plan_json",
    "render_plan_markdown",
    "render_plan_text",
    "render_pull_request_file",
    "render_status",
    "render_title",
    "render_validation_github",
    "render_validation_json",
    "render_validation_text",
]
