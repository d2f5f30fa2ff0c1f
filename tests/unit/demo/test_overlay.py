"""The demo's overlays: small files merged into the shipped config with its comments kept, and
the result validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.demo.overlay import apply_overlay, fill, overlay
from controlplane.example import example_files
from tests.support.config import validate

URLS = {
    name: f"http://127.0.0.1:{port}"
    for name, port in (
        ("stable", 1),
        ("canary", 2),
        ("gateway", 3),
        ("prometheus", 4),
        ("forge", 5),
    )
}

BASE = """\
# models of dev
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata:
  name: small
spec:
  endpoint: http://old/v1   # where it runs
  pricing: {inputPer1M: 0.02, outputPer1M: 0.06}
"""


def test_a_resource_is_merged_key_by_key_and_the_rest_of_the_file_kept() -> None:
    patch = "kind: Model\nmetadata: {name: small}\nspec:\n  endpoint: http://new/v1\n"
    assert overlay(BASE, patch) == BASE.replace("http://old/v1", "http://new/v1")


def test_a_new_resource_is_appended_and_a_new_file_written_as_it_is() -> None:
    patch = "kind: Model\nmetadata:\n  name: big\nspec:\n  endpoint: http://big/v1\n"
    merged = overlay(BASE, patch)
    assert merged.startswith(BASE)
    assert merged.endswith(
        "---\nkind: Model\nmetadata:\n  name: big\nspec:\n  endpoint: http://big/v1\n"
    )
    assert overlay(None, patch) == patch


def test_placeholders_must_all_be_known() -> None:
    assert fill("url: ${gateway}/v1  # $schema stays", URLS) == (
        "url: http://127.0.0.1:3/v1  # $schema stays"
    )
    with pytest.raises(KeyError, match="nowhere"):
        fill("url: ${nowhere}", URLS)


def test_the_example_config_ships_as_package_data() -> None:
    files = dict(example_files())
    assert "environments/prod/routes.yaml" in files
    assert "policies/slo-chat.yaml" in files
    assert all(path.startswith(("environments/", "policies/")) for path in files)


def test_both_overlays_give_a_valid_dev_with_the_canary(tmp_path: Path) -> None:
    for relative, content in example_files():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(content)
    base = apply_overlay(tmp_path, "base", URLS)
    assert "policies/demo-latency.yaml" in base
    state = validate(tmp_path, ["dev"]).states["dev"]
    assert [getattr(t, "url", None) for t in state.environment.spec.targets] == [URLS["gateway"]]
    assert not state.environment.spec.self_heal
    assert state.routes[0].spec.canary is None
    apply_overlay(tmp_path, "canary", URLS)
    result = validate(tmp_path, ["dev"])
    assert result.ok, result.problems
    [route] = result.states["dev"].routes
    assert route.spec.canary is not None
    assert (route.spec.canary.model, route.spec.canary.percent) == ("chat-canary", 30)
    assert route.spec.rate_limits is not None
    assert route.spec.rate_limits.requests_per_minute == 100_000
    text = (tmp_path / "environments/dev/models.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/model.json\n")
