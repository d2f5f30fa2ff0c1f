"""Environment promotion: a change that went live in staging, carried to prod's files, model-aware.

Every scenario starts from the shipped example (environments/staging and environments/prod,
copied into a temporary folder by the `config` fixture) and edits staging's files as a commit
would. Pure: no process, no git.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.config.roundtrip import load_editable
from controlplane.engine.config import desired_state
from controlplane.promotion.environment import (
    Action,
    Carry,
    carry_change,
    carry_promotion,
    render_carry_markdown,
    render_carry_title,
)
from controlplane.spec import Promotion
from controlplane.spec.route import Route
from tests.support.config import REPO, validate

STAGING_MODELS = "environments/staging/models.yaml"
STAGING_ROUTES = "environments/staging/routes.yaml"
STAGING_POOLS = "environments/staging/pools.yaml"
PROD_MODELS = "environments/prod/models.yaml"
PROD_ROUTES = "environments/prod/routes.yaml"

V2_ADAPTER = "    name: chat-lora-v2\n    uri: s3://models/chat-lora-v2/\n"
V3_ADAPTER = "    name: chat-lora-v3\n    uri: s3://models/chat-lora-v3/\n"
STAGING_CANARY = "  canary:\n    model: chat-v2\n    percent: 50\n"
PROD_CANARY = "  canary:\n    model: chat-v2\n    percent: 10\n"
CHAT_TINY = """\
---
# A distilled model for the cascade's fast half.
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata:
  name: chat-tiny
spec:
  baseModel: meta-llama/Llama-3.2-1B-Instruct
  parameterCount: 1B
  framework: vllm
  replicas: 1
  pool: l4
  endpoint: http://chat-tiny.serving-staging.svc:8000/v1
"""


def files(root: Path, env: str) -> dict[str, str]:
    """An environment's YAML files as the engine passes them: repository path -> text."""
    folder = root / "environments" / env
    return {f"environments/{env}/{p.name}": p.read_text() for p in sorted(folder.glob("*.yaml"))}


def changed(files_: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    """A copy of `files_` with one replacement in one file (which must find `old`)."""
    assert old in files_[path], f"{old!r} not in {path}"
    return {**files_, path: files_[path].replace(old, new, 1)}


def diff_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def carry(before: dict[str, str], after: dict[str, str], prod: dict[str, str]) -> Carry:
    return carry_change(before, after, prod, "staging", "prod")


def spec_of(text: str, kind: str, name: str) -> dict[str, Any]:
    editable = load_editable(text)
    assert editable is not None
    document = editable.resource(kind, name)
    assert document is not None, f"no {kind}/{name}"
    return dict(document["spec"])


# --- models -------------------------------------------------------------------------------------


def test_a_new_adapter_version_reaches_prod_and_nothing_else_in_prod_moves(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(before, STAGING_MODELS, V2_ADAPTER, V3_ADAPTER)

    result = carry(before, after, prod)

    assert list(result.edits) == [PROD_MODELS]
    assert diff_lines(prod[PROD_MODELS], result.edits[PROD_MODELS]) == [
        "-    name: chat-lora-v2",
        "-    uri: s3://models/chat-lora-v2/",
        "+    name: chat-lora-v3",
        "+    uri: s3://models/chat-lora-v3/",
    ]
    assert result.descriptions == (
        "Model/chat-v2: spec.adapter.name chat-lora-v2 → chat-lora-v3; "
        "spec.adapter.uri s3://models/chat-lora-v2/ → s3://models/chat-lora-v3/",
    )
    # prod's endpoint (serving, not serving-staging), pool and replicas are its own
    spec = spec_of(result.edits[PROD_MODELS], "Model", "chat-v2")
    assert spec["endpoint"] == "http://chat-v2.serving.svc:8000/v1"
    assert (spec["pool"], spec["replicas"]) == ("h100", 1)
    assert result.problems == ()
    assert result.left_out == ()


def test_prods_own_replicas_stay_while_the_fields_the_change_touched_are_carried(
    config: Path,
) -> None:
    # chat-small runs 1 replica in staging and 2 in prod: the commit gives it an adapter and
    # scales staging to 3.
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(
        before,
        STAGING_MODELS,
        "  tensorParallel: 1\n  replicas: 1\n  pool: l4\n",
        "  adapter:\n    name: small-lora-v1\n    uri: s3://models/small-lora-v1/\n"
        "  tensorParallel: 1\n  replicas: 3\n  pool: l4\n",
    )

    result = carry(before, after, prod)

    spec = spec_of(result.edits[PROD_MODELS], "Model", "chat-small")
    assert spec["adapter"] == {"name": "small-lora-v1", "uri": "s3://models/small-lora-v1/"}
    assert (spec["replicas"], spec["pool"]) == (2, "l4")
    assert [str(n) for n in result.left_out] == [
        "Model/chat-small: spec.replicas stays 2 in prod, its own value (staging: 1 → 3)"
    ]
    # the new field sits where staging has it, before tensorParallel
    assert diff_lines(prod[PROD_MODELS], result.edits[PROD_MODELS]) == [
        "+  adapter:",
        "+    name: small-lora-v1",
        "+    uri: s3://models/small-lora-v1/",
    ]


def test_a_per_environment_value_both_shared_is_carried(config: Path) -> None:
    # chat-v1 has 1 replica in both: prod agreed with staging, so the new count is carried.
    before, prod = files(config, "staging"), files(config, "prod")
    models = before[STAGING_MODELS]
    start = models.index("name: chat-v1")
    head, tail = models[:start], models[start:]
    after = {**before, STAGING_MODELS: head + tail.replace("replicas: 1", "replicas: 2", 1)}

    result = carry(before, after, prod)

    assert spec_of(result.edits[PROD_MODELS], "Model", "chat-v1")["replicas"] == 2
    assert spec_of(result.edits[PROD_MODELS], "Model", "chat-v2")["replicas"] == 1


def test_a_model_added_in_staging_is_added_to_prods_models_file_with_prods_endpoint(
    config: Path,
) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = {**before, STAGING_MODELS: before[STAGING_MODELS] + CHAT_TINY}

    result = carry(before, after, prod)

    [change] = result.changes
    assert (change.resource, change.action, change.file) == (
        "Model/chat-tiny",
        Action.ADD,
        PROD_MODELS,
    )
    text = result.edits[PROD_MODELS]
    assert text.startswith(prod[PROD_MODELS])  # appended; the rest untouched
    added = text.removeprefix(prod[PROD_MODELS])
    assert "# A distilled model for the cascade's fast half." in added  # its comment travels
    assert "endpoint: http://chat-tiny.serving.svc:8000/v1" in added
    assert "serving-staging" not in added
    assert "endpoint http://chat-tiny.serving-staging.svc:8000/v1 is " in change.description
    assert result.problems == ()


def test_a_model_on_a_staging_only_pool_is_a_problem_not_a_broken_config(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    pool = (
        "---\napiVersion: controlplane.dev/v1alpha1\nkind: GpuPool\nmetadata:\n  name: a100\n"
        "spec:\n  accelerator: nvidia-a100-80gb\n  gpuMemoryGib: 80\n  gpusPerNode: 8\n"
        "  maxNodes: 1\n  pricePerGpuHour: 2.5\n"
    )
    after = {
        **before,
        STAGING_POOLS: before[STAGING_POOLS] + pool,
        STAGING_MODELS: before[STAGING_MODELS] + CHAT_TINY.replace("pool: l4", "pool: a100"),
    }
    after = changed(after, STAGING_ROUTES, "    model: chat-v2\n", "    model: chat-tiny\n")

    result = carry(before, after, prod)

    assert result.edits == {}  # neither the model nor the route that would name it
    assert render_carry_title(result) == "Promote staging → prod: nothing carried, 2 problems"
    assert "Nothing could be carried: see the problems below." in render_carry_markdown(result)
    problems = {p.resource: p.message for p in result.problems}
    assert "'a100' is a GpuPool only staging has" in problems["Model/chat-tiny"]
    assert "Model 'chat-tiny', which prod does not have" in problems["Route/chat"]
    assert "GpuPool/a100: a GpuPool is per environment; not carried" in map(str, result.left_out)


def test_a_staging_only_pool_name_is_mapped_to_the_pool_prods_copies_use(config: Path) -> None:
    # staging calls its H100 pool h100-staging; chat-v1 runs on it there and on h100 in prod
    staging = files(config, "staging")
    staging = changed(staging, STAGING_POOLS, "name: h100", "name: h100-staging")
    staging = {
        **staging,
        STAGING_MODELS: staging[STAGING_MODELS].replace("pool: h100", "pool: h100-staging"),
    }
    after = {
        **staging,
        STAGING_MODELS: staging[STAGING_MODELS]
        + CHAT_TINY.replace("pool: l4", "pool: h100-staging"),
    }

    result = carry(staging, after, files(config, "prod"))

    assert spec_of(result.edits[PROD_MODELS], "Model", "chat-tiny")["pool"] == "h100"
    assert "pool h100-staging is h100 in prod" in result.descriptions[0]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("endpoint", "https://chat-tiny.staging.example.com/v1", "names 'staging'"),
        ("apiKey", "env:STAGING_TINY_KEY", "names environment staging"),
    ],
)
def test_an_endpoint_or_credential_of_the_source_alone_is_a_problem(
    config: Path, field: str, value: str, reason: str
) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    model = CHAT_TINY.replace(
        "  endpoint: http://chat-tiny.serving-staging.svc:8000/v1\n", f"  {field}: {value}\n"
    )
    if field == "apiKey":
        model += "  endpoint: http://chat-tiny.serving-staging.svc:8000/v1\n"
    after = {**before, STAGING_MODELS: before[STAGING_MODELS] + model}

    result = carry(before, after, prod)

    assert result.edits == {}
    [problem] = result.problems
    assert problem.resource == "Model/chat-tiny"
    assert reason in problem.message
    assert "is not added" in problem.message


def test_quoted_values_stay_strings_in_prod(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(
        before, STAGING_MODELS, "    family: llama-3.1\n", '    family: llama-3.1\n    rev: "2"\n'
    )
    after = {**after, STAGING_MODELS: after[STAGING_MODELS] + CHAT_TINY + "  maxModelLen: '8192'\n"}

    result = carry(before, after, prod)

    assert '    rev: "2"\n' in result.edits[PROD_MODELS]
    assert "  maxModelLen: '8192'\n" in result.edits[PROD_MODELS]


def test_a_credential_prod_also_uses_is_kept(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    model = CHAT_TINY + "  apiKey: env:OPENAI_API_KEY\n"
    result = carry(before, {**before, STAGING_MODELS: before[STAGING_MODELS] + model}, prod)
    assert (
        spec_of(result.edits[PROD_MODELS], "Model", "chat-tiny")["apiKey"] == "env:OPENAI_API_KEY"
    )


def test_a_model_removed_in_staging_that_a_prod_route_still_uses_stays(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    # staging drops the cascade and chat-small; prod has a second route on chat-small
    after = changed(
        before,
        STAGING_ROUTES,
        "  cascade:\n    fast: chat-small\n    strong: chat-v1\n    confidence: 0.8\n",
        "",
    )
    models = after[STAGING_MODELS]
    start = models.index("---\n# The fast half")
    end = models.index("---\n# The fallback")
    after = {**after, STAGING_MODELS: models[:start] + models[end:]}
    summarize = (
        "---\napiVersion: controlplane.dev/v1alpha1\nkind: Route\nmetadata:\n  name: summarize\n"
        "spec:\n  model: chat-small\n"
    )
    prod = {**prod, PROD_ROUTES: prod[PROD_ROUTES] + summarize}

    result = carry(before, after, prod)

    assert "cascade" not in spec_of(result.edits[PROD_ROUTES], "Route", "chat")
    assert "name: chat-small" in result.edits.get(PROD_MODELS, prod[PROD_MODELS])
    [problem] = result.problems
    assert str(problem) == (
        "Model/chat-small: removed in staging, but Route/summarize in prod still name it; "
        "not removed"
    )

    # without that route, the model goes too, after the route stops naming it
    result = carry(before, after, files(config, "prod"))
    assert [(c.resource, c.action) for c in result.changes] == [
        ("Route/chat", Action.UPDATE),
        ("Model/chat-small", Action.REMOVE),
    ]
    assert "name: chat-small\n" not in result.edits[PROD_MODELS]
    assert "# The fast half" not in result.edits[PROD_MODELS]  # its comment went with it


# --- routes -------------------------------------------------------------------------------------


def test_a_canary_added_in_staging_appears_in_prods_route(config: Path) -> None:
    staging = changed(files(config, "staging"), STAGING_ROUTES, STAGING_CANARY, "")
    prod = changed(files(config, "prod"), PROD_ROUTES, PROD_CANARY, "")
    after = files(config, "staging")  # the commit adds chat-v2 at 50%

    result = carry(staging, after, prod)

    assert diff_lines(prod[PROD_ROUTES], result.edits[PROD_ROUTES]) == [
        "+  canary:",
        "+    model: chat-v2",
        "+    percent: 50",
    ]
    assert result.descriptions == (
        'Route/chat: spec.canary set to {"model": "chat-v2", "percent": 50}',
    )


def test_a_changed_canary_model_is_carried_at_prods_own_percent(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = {**before, STAGING_MODELS: before[STAGING_MODELS] + CHAT_TINY}
    after = changed(
        after,
        STAGING_ROUTES,
        STAGING_CANARY,
        STAGING_CANARY.replace(
            "chat-v2\n    percent: 50", "chat-tiny\n    percent: 20\n    steps: [20, 50]"
        ),
    )

    result = carry(before, after, prod)

    canary = spec_of(result.edits[PROD_ROUTES], "Route", "chat")["canary"]
    assert dict(canary) == {"model": "chat-tiny", "percent": 10, "steps": [20, 50]}
    assert [(c.resource, c.action) for c in result.changes] == [
        ("Model/chat-tiny", Action.ADD),
        ("Route/chat", Action.UPDATE),
    ]
    assert [str(n) for n in result.left_out] == [
        "Route/chat: spec.canary.percent stays 10 in prod, its own value (staging: 50 → 20)"
    ]


def test_a_canary_removed_in_staging_is_removed_in_prod(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    # the canary won: chat-v2 becomes the route's model
    after = changed(
        before, STAGING_ROUTES, "  model: chat-v1\n" + STAGING_CANARY, "  model: chat-v2\n"
    )

    result = carry(before, after, prod)

    assert diff_lines(prod[PROD_ROUTES], result.edits[PROD_ROUTES]) == [
        "-  model: chat-v1",
        "-  canary:",
        "-    model: chat-v2",
        "-    percent: 10",
        "+  model: chat-v2",
    ]


def test_a_route_prod_does_not_have_is_a_problem_not_a_silent_drop(config: Path) -> None:
    before = files(config, "staging")
    prod = {k: v for k, v in files(config, "prod").items() if k != PROD_ROUTES}
    after = changed(before, STAGING_ROUTES, "timeout: 30s", "timeout: 45s")

    result = carry(before, after, prod)

    assert result.edits == {}
    assert [str(p) for p in result.problems] == [
        "Route/chat: changed in staging, but prod has no Route/chat; not carried"
    ]
    assert "**Not carried: finish these by hand before merging**" in render_carry_markdown(result)


def test_other_route_fields_the_change_touched_are_carried_and_rate_limits_stay(
    config: Path,
) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(before, STAGING_ROUTES, "timeout: 30s", "timeout: 45s")
    after = changed(after, STAGING_ROUTES, "requestsPerMinute: 120", "requestsPerMinute: 240")
    after = changed(
        after,
        STAGING_ROUTES,
        "  fallbacks: [gpt-4o-mini]\n",
        "  fallbacks: [gpt-4o-mini]\n  firstTokenTimeout: 2s\n",
    )

    result = carry(before, after, prod)

    spec = spec_of(result.edits[PROD_ROUTES], "Route", "chat")
    assert (spec["timeout"], spec["firstTokenTimeout"]) == ("45s", "2s")
    assert dict(spec["rateLimits"]) == {"requestsPerMinute": 600, "tokensPerMinute": 200000}
    assert len(result.left_out) == 1
    assert "requestsPerMinute stays 600" in str(result.left_out[0])


def test_a_routes_filter_leaves_out_what_other_routes_use_and_lists_it(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    search = (
        "---\napiVersion: controlplane.dev/v1alpha1\nkind: Route\nmetadata:\n  name: search\n"
        "spec:\n  model: chat-tiny\n"
    )
    after = {
        **before,
        STAGING_MODELS: before[STAGING_MODELS] + CHAT_TINY,
        STAGING_ROUTES: before[STAGING_ROUTES] + search,
    }
    after = changed(after, STAGING_MODELS, V2_ADAPTER, V3_ADAPTER)
    after = changed(after, "environments/staging/budgets.yaml", "limitUsd: 100", "limitUsd: 150")

    rule = Promotion.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "staging-to-prod"},
            "spec": {"from": "staging", "to": "prod", "routes": ["chat"]},
        }
    )
    result = carry_promotion(rule, before, after, prod)

    assert [c.resource for c in result.changes] == ["Model/chat-v2"]  # chat uses chat-v2
    assert [str(n) for n in result.left_out] == [
        "Model/chat-tiny: not a route this promotion is limited to, nor used by one (chat)",
        "Route/search: not a route this promotion is limited to, nor used by one (chat)",
        "Budget/chat-daily: a Budget is per environment; not carried",
    ]
    # without the filter, both are carried (the budget never is)
    unfiltered = carry(before, after, prod)
    assert [c.resource for c in unfiltered.changes] == [
        "Model/chat-tiny",
        "Model/chat-v2",
        "Route/search",
    ]


def test_a_guardrail_added_where_prod_has_none_goes_to_a_new_file_with_its_modeline(
    config: Path,
) -> None:
    guardrails = "environments/staging/guardrails.yaml"
    after = files(config, "staging")
    before = {k: v for k, v in after.items() if k != guardrails}
    prod = {k: v for k, v in files(config, "prod").items() if "guardrails" not in k}

    result = carry(before, after, prod)

    text = result.edits["environments/prod/guardrails.yaml"]
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../../schemas/guardrail.json"
    assert text.count("kind: Guardrail") == 3


# --- the whole of it ----------------------------------------------------------------------------


def big_change(before: dict[str, str]) -> dict[str, str]:
    """A commit that does a bit of everything: a new adapter, a new model in the cascade, a
    canary step list, a scaled model and a raised rate limit."""
    after = changed(before, STAGING_MODELS, V2_ADAPTER, V3_ADAPTER)
    after = {**after, STAGING_MODELS: after[STAGING_MODELS] + CHAT_TINY}
    after = changed(after, STAGING_MODELS, "  replicas: 1\n  pool: l4", "  replicas: 3\n  pool: l4")
    after = changed(
        after, STAGING_ROUTES, "    percent: 50\n", "    percent: 50\n    steps: [10, 50]\n"
    )
    after = changed(after, STAGING_ROUTES, "fast: chat-small", "fast: chat-tiny")
    return changed(after, STAGING_ROUTES, "requestsPerMinute: 120", "requestsPerMinute: 150")


def test_the_carried_change_validates_through_the_real_loader(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = big_change(before)

    result = carry(before, after, prod)
    assert result.problems == ()
    for path, text in result.edits.items():
        (config / path).write_text(text)

    assert validate(config).problems == ()
    state = desired_state(config, "prod")
    models = state.models_by_name
    assert models["chat-v2"].spec.adapter is not None
    assert models["chat-v2"].spec.adapter.name == "chat-lora-v3"
    assert models["chat-tiny"].spec.endpoint == "http://chat-tiny.serving.svc:8000/v1"
    assert models["chat-small"].spec.replicas == 2
    route: Route = state.routes[0]
    assert route.spec.cascade is not None
    assert route.spec.cascade.fast == "chat-tiny"
    assert route.spec.canary is not None
    assert route.spec.canary.percent == 10
    assert route.spec.rate_limits.requests_per_minute == 600


def test_carrying_twice_changes_nothing_the_second_time(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = big_change(before)

    first = carry(before, after, prod)
    assert not first.empty
    again = carry(before, after, {**prod, **first.edits})

    assert again.empty
    assert again.edits == {}
    assert again.changes == ()
    assert again.problems == ()
    assert "Nothing to carry: `prod` already has this change." in render_carry_markdown(again)


def test_every_comment_of_prods_files_survives(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")

    result = carry(before, big_change(before), prod)

    assert set(result.edits) == {PROD_MODELS, PROD_ROUTES}
    for path, text in result.edits.items():
        comments = [line.strip() for line in prod[path].splitlines() if "#" in line]
        kept = [line.strip() for line in text.splitlines() if "#" in line]
        assert all(any(c in k for k in kept) for c in comments), path
    assert (
        "  pricing: {inputPer1M: 0.10, outputPer1M: 0.30}   # internal charge-back"
        in (result.edits[PROD_MODELS])
    )


def test_whole_repository_mappings_use_each_environments_own_files(config: Path) -> None:
    everything = {
        **files(config, "dev"),
        **files(config, "staging"),
        **files(config, "prod"),
    }
    after = changed(everything, STAGING_MODELS, V2_ADAPTER, V3_ADAPTER)

    result = carry(everything, after, everything)

    assert list(result.edits) == [PROD_MODELS]
    assert (
        result.edits[PROD_MODELS]
        == carry(
            files(config, "staging"),
            changed(files(config, "staging"), STAGING_MODELS, V2_ADAPTER, V3_ADAPTER),
            files(config, "prod"),
        ).edits[PROD_MODELS]
    )


def test_a_target_file_that_is_not_yaml_stops_the_carry(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    prod = {**prod, PROD_ROUTES: "spec: [unclosed\n"}
    result = carry(before, changed(before, STAGING_MODELS, V2_ADAPTER, V3_ADAPTER), prod)
    assert result.edits == {}
    assert result.changes == ()
    assert [str(p) for p in result.problems] == [
        f"{PROD_ROUTES}: is not valid YAML, so nothing could be carried"
    ]


def test_no_change_in_staging_carries_nothing(config: Path) -> None:
    staging = files(config, "staging")
    result = carry(staging, staging, files(config, "prod"))
    assert (result.edits, result.changes, result.left_out, result.problems) == ({}, (), (), ())


# --- rendering ----------------------------------------------------------------------------------


def test_the_title_names_the_commit_or_the_resources(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    result = carry(before, big_change(before), prod)
    assert render_carry_title(result, "Adapter v3 and a tiny cascade\n\nbody") == (
        "Promote staging → prod: Adapter v3 and a tiny cascade"
    )
    assert render_carry_title(result) == (
        "Promote staging → prod: Model/chat-tiny, Model/chat-v2, Route/chat"
    )
    assert len(render_carry_title(result, "x" * 500)) == 120


def test_the_markdown_section_lists_each_change_problem_and_left_out_part(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(big_change(before), STAGING_ROUTES, "timeout: 30s", "timeout: 45s")
    result = carry(before, after, prod)

    markdown = render_carry_markdown(result)

    assert markdown.startswith("### What is carried from `staging` to `prod`\n")
    assert (
        "| + | `Model/chat-tiny` | `environments/prod/models.yaml` | added<br>"
        "_endpoint http://chat-tiny.serving-staging.svc:8000/v1 is "
        "http://chat-tiny.serving.svc:8000/v1 in prod_<br>_spec.replicas 1 as in staging_ |"
    ) in markdown
    assert "`spec.timeout`: `30s` → `45s`" in markdown
    assert "`spec.canary.steps`: _(none)_ → `[10, 50]`" in markdown
    assert "**Left out** (not the target's to take)" in markdown
    assert "- `Model/chat-small`: spec.replicas stays 2 in prod" in markdown


def test_markdown_cells_cannot_be_broken_by_a_value(config: Path) -> None:
    before, prod = files(config, "staging"), files(config, "prod")
    after = changed(before, STAGING_MODELS, "uri: s3://models/chat-lora-v2/", "uri: 's3://a|b`c'")
    markdown = render_carry_markdown(carry(before, after, prod))
    row = next(line for line in markdown.splitlines() if "Model/chat-v2" in line)
    assert "`s3://a\\|b'c`" in row
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # the pipe in the value opened no column


# --- property: a change carried into an identical copy is the change ---------------------------


def _edit(old: str, new: str, path: str = "models.yaml") -> tuple[str, str, str]:
    return path, old, new


EDITS = {
    "adapter": _edit(V2_ADAPTER, V3_ADAPTER),
    "quantization": _edit("  quantization: bf16\n", "  quantization: fp8\n"),
    "replicas": _edit("  replicas: 1\n  pool: l4", "  replicas: 3\n  pool: l4"),
    "context": _edit("  maxModelLen: 16384\n", "  maxModelLen: 32768\n"),
    "pricing": _edit(
        "{inputPer1M: 0.15, outputPer1M: 0.60}", "{inputPer1M: 0.15, outputPer1M: 0.70}"
    ),
    "percent": _edit("    percent: 50\n", "    percent: 60\n", "routes.yaml"),
    "no-canary": _edit(STAGING_CANARY, "", "routes.yaml"),
    "timeout": _edit("timeout: 30s", "timeout: 45s", "routes.yaml"),
    "limits": _edit("requestsPerMinute: 120", "requestsPerMinute: 90", "routes.yaml"),
    "no-cache": _edit("    enabled: true\n", "    enabled: false\n", "routes.yaml"),
    "threshold": _edit("  threshold: 0.8\n", "  threshold: 0.9\n", "guardrails.yaml"),
    "entities": _edit("[email, phone, credit-card]", "[email, phone]", "guardrails.yaml"),
}


def _resources(texts: dict[str, str]) -> dict[tuple[str, str], object]:
    """Every document of the files by (kind, name), as plain data."""
    return {
        (document["kind"], document["metadata"]["name"]): document
        for text in texts.values()
        for document in yaml.safe_load_all(text)
        if document
    }


STAGING = {p.name: p.read_text() for p in sorted((REPO / "environments/staging").glob("*.yaml"))}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chosen=st.sets(st.sampled_from(sorted(EDITS))),
    tiny=st.booleans(),
)
def test_carrying_into_an_identical_copy_of_the_source_gives_the_source_after(
    chosen: set[str], tiny: bool
) -> None:
    before = dict(STAGING)
    after = dict(STAGING)
    for key in sorted(chosen):
        path, old, new = EDITS[key]
        after[path] = after[path].replace(old, new, 1)  # (no-canary takes percent's line away)
    if tiny:
        after["models.yaml"] += CHAT_TINY
        after["routes.yaml"] = after["routes.yaml"].replace("fast: chat-small", "fast: chat-tiny")

    result = carry_change(before, after, dict(before), "staging", "prod")

    assert result.problems == ()
    assert _resources({**before, **result.edits}) == _resources(after)
    again = carry_change(before, after, {**before, **result.edits}, "staging", "prod")
    assert again.edits == {}
