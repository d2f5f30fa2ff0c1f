"""YAML parsing: positions of every field, and the YAML traps that are closed."""

from __future__ import annotations

from controlplane.config import format_path, parse_documents

TEXT = """\
# comment
apiVersion: v1
kind: Route
metadata:
  name: chat
spec:
  variants:
    - name: a
      weight: 60
    - name: b
      weight: 40
---
---
kind: Model
"""


def test_documents_keep_the_line_of_every_field() -> None:
    docs, problems = parse_documents("f.yaml", TEXT)
    assert problems == []
    assert [d.index for d in docs] == [0, 2]  # the empty middle document is skipped
    route = docs[0]
    assert route.line == 2
    assert route.line_of(("metadata", "name")) == 5
    assert route.line_of(("spec", "variants", 1)) == 10
    assert route.line_of(("spec", "variants", 1, "weight")) == 11
    # A field that is not there falls back to its nearest ancestor.
    assert route.line_of(("spec", "variants", 1, "model")) == 10
    assert docs[1].line == 14
    assert route.label == "Route/chat"


def test_yaml_11_booleans_and_dates_stay_strings() -> None:
    docs, _ = parse_documents("f.yaml", "a: on\nb: yes\nc: 2024-01-01\nd: true\ne: False\n")
    assert docs[0].data == {"a": "on", "b": "yes", "c": "2024-01-01", "d": True, "e": False}


def test_repeated_keys_are_reported_with_both_lines() -> None:
    _, problems = parse_documents("f.yaml", "spec:\n  replicas: 1\n  replicas: 2\n")
    assert len(problems) == 1
    assert (problems[0].line, problems[0].path) == (3, "spec.replicas")
    assert "first at line 2" in problems[0].found


def test_syntax_error_points_at_its_line() -> None:
    docs, problems = parse_documents("f.yaml", "a: 1\n---\nb: [1, 2\nc: 3\n")
    assert [d.data for d in docs] == [{"a": 1}]
    assert len(problems) == 1
    assert problems[0].rule == "yaml"
    assert problems[0].line == 4
    assert "syntax error" in problems[0].found


def test_alias_bombs_are_refused_without_expanding_them() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 9)
    ]
    docs, problems = parse_documents("bomb.yaml", "\n".join(lines) + "\n")
    assert docs == []
    assert len(problems) == 1
    assert "aliases" in problems[0].expected


def test_merge_keys_and_anchors_work() -> None:
    text = "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n"
    docs, problems = parse_documents("f.yaml", text)
    assert problems == []
    assert docs[0].data["child"] == {"x": 1, "y": 2}


def test_format_path() -> None:
    assert format_path(("spec", "variants", 0, "weight")) == "spec.variants[0].weight"
    assert format_path(()) == ""


def test_characters_yaml_forbids_are_a_located_problem() -> None:
    docs, problems = parse_documents("f.yaml", "a: 1\nb: \x1f\n")
    assert docs == []
    assert [(p.line, p.found) for p in problems] == [
        (2, "the character U+001F, which YAML does not allow")
    ]
