"""Every validation rule, with a failing case and a passing one, on the shipped config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config import edit, only, validate


def line_of(root: Path, file: str, text: str) -> int:
    lines = (root / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_the_shipped_config_is_valid(config: Path) -> None:
    result = validate(config)
    assert result.problems == ()
    assert sorted(result.states) == ["dev", "prod", "staging"]
    prod = result.states["prod"]
    assert [m.name for m in prod.models] == ["chat-small", "chat-v1", "chat-v2", "gpt-4o-mini"]
    assert prod.routes[0].spec.canary is not None
    assert prod.routes[0].spec.canary.percent == 10
    assert [p.name for p in prod.slo_policies] == ["chat-slo"]
    assert [p.name for p in result.states["dev"].slo_policies] == []  # not selected


# --- structure --------------------------------------------------------------------------------


def test_out_of_range_percent_names_file_line_field_and_bound(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    p = only(validate(config).problems, "schema")
    assert p.file == "environments/prod/routes.yaml"
    assert p.line == line_of(config, p.file, "percent: 140")
    assert (p.resource, p.path) == ("Route/chat", "spec.canary.percent")
    assert (p.found, p.expected) == ("140", "at most 100")


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("  model: chat-small\n", "  model: chat-small\n  cascade: null\n", "spec.cascade"),
        ("  rateLimits:\n", "  timeout: null\n  rateLimits:\n", "spec.timeout"),
    ],
)
def test_an_explicit_null_is_not_taken_for_absent(
    config: Path, old: str, new: str, path: str
) -> None:
    edit(config, "environments/dev/routes.yaml", old, new)
    problem = only(validate(config, ["dev"]).problems, "schema")
    assert (problem.path, problem.found) == (path, "null")


def test_misspelt_field_suggests_the_right_one_once(config: Path) -> None:
    edit(config, "environments/prod/pools.yaml", "gpusPerNode: 8", "gpusPerNod: 8")
    p = only(validate(config).problems, "schema")
    assert p.path == "spec.gpusPerNod"
    assert "did you mean 'gpusPerNode'?" in p.expected


def test_missing_required_field(config: Path) -> None:
    edit(config, "environments/prod/pools.yaml", "  maxNodes: 2\n", "")
    p = only(validate(config).problems, "schema")
    assert (p.path, p.found) == ("spec.maxNodes", "nothing")
    assert "Most nodes the pool may grow to" in p.expected


def test_wrong_type_says_what_was_expected(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "replicas: 2", 'replicas: "two"')
    p = only(validate(config).problems, "schema")
    assert (p.path, p.found, p.expected) == ("spec.replicas", "'two'", "an integer")


def test_unknown_union_tag_lists_the_known_ones(config: Path) -> None:
    edit(config, "environments/prod/guardrails.yaml", "type: toxic", "type: toxic", count=0)
    edit(config, "environments/prod/guardrails.yaml", "type: prompt-injection", "type: jailbreak")
    p = only(validate(config).problems, "schema")
    assert (p.path, p.found) == ("spec.type", "'jailbreak'")
    assert p.expected == "a type of prompt-injection, pii, toxicity, topic, regex"


def test_errors_inside_the_chosen_union_branch_are_reported(config: Path) -> None:
    edit(config, "environments/prod/guardrails.yaml", "threshold: 0.8", "threshold: 3")
    p = only(validate(config).problems, "schema")
    assert (p.path, p.found, p.expected) == ("spec.threshold", "3", "at most 1")


def test_wrong_api_version(config: Path) -> None:
    edit(config, "environments/prod/pools.yaml", "controlplane.dev/v1alpha1", "v1")
    p = only(validate(config).problems, "schema")
    assert (p.path, p.found) == ("apiVersion", "'v1'")
    assert "controlplane.dev/v1alpha1" in p.expected


def test_unknown_kind(config: Path) -> None:
    edit(config, "environments/prod/pools.yaml", "kind: GpuPool", "kind: GPUPool")
    p = only(validate(config).problems, "schema")
    assert p.path == "kind"
    assert "GpuPool" in p.expected


def test_a_kind_in_the_wrong_folder(config: Path) -> None:
    (config / "environments/prod/slo.yaml").write_text(
        (config / "policies/slo-chat.yaml").read_text()
    )
    p = only(validate(config).problems, "layout")
    assert p.file == "environments/prod/slo.yaml"
    assert "policies/" in p.expected


def test_a_document_that_is_not_a_mapping(config: Path) -> None:
    (config / "environments/prod/list.yaml").write_text("- a\n- b\n")
    p = only(validate(config).problems, "schema")
    assert (p.file, p.line, p.found) == ("environments/prod/list.yaml", 1, "a list")


def test_invalid_durations_are_rejected(config: Path) -> None:
    edit(config, "policies/slo-chat.yaml", "interval: 1m", "interval: 1 minute")
    p = only(validate(config).problems, "schema")
    assert p.path == "spec.interval"
    assert "duration" in p.expected


# --- names and layout -------------------------------------------------------------------------


def test_duplicate_names_in_one_environment(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "name: chat-v2", "name: chat-v1")
    problems = validate(config).problems
    p = only(problems, "unique")
    assert p.path == "metadata.name"
    assert p.line == line_of(config, p.file, "name: chat-v1") + 21  # the second one
    assert "first at environments/prod/models.yaml:" in p.found


def test_the_same_name_in_two_environments_is_fine(config: Path) -> None:
    assert validate(config).ok  # Route/chat exists in dev, staging and prod


def test_environment_must_match_its_folder(config: Path) -> None:
    edit(config, "environments/prod/environment.yaml", "name: prod", "name: production")
    p = only(validate(config).problems, "layout")
    assert (p.path, p.found) == ("metadata.name", "'production'")
    assert "'prod'" in p.expected


def test_environment_resource_is_required(config: Path) -> None:
    (config / "environments/prod/environment.yaml").unlink()
    p = only(validate(config, ["prod"]).problems, "layout")
    assert "no Environment resource" in p.found


def test_file_directly_under_environments(config: Path) -> None:
    (config / "environments/stray.yaml").write_text("a: 1\n")
    p = only(validate(config).problems, "layout")
    assert p.file == "environments/stray.yaml"


# --- references -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "path", "kind"),
    [
        (
            "environments/prod/routes.yaml",
            "model: chat-v2",
            "model: chat-v3",
            "spec.canary.model",
            "Model",
        ),
        (
            "environments/prod/routes.yaml",
            "fallbacks: [gpt-4o-mini]",
            "fallbacks: [gpt-5]",
            "spec.fallbacks[0]",
            "Model",
        ),
        (
            "environments/prod/routes.yaml",
            "fast: chat-small",
            "fast: tiny",
            "spec.cascade.fast",
            "Model",
        ),
        (
            "environments/prod/routes.yaml",
            "pii-output]",
            "pii-outptu]",
            "spec.guardrails[2]",
            "Guardrail",
        ),
        ("environments/prod/models.yaml", "pool: l4", "pool: a100", "spec.pool", "GpuPool"),
        (
            "environments/prod/budgets.yaml",
            "{type: route, name: chat}",
            "{type: route, name: chat2}",
            "spec.scope.name",
            "Route",
        ),
    ],
)
def test_dangling_references(
    config: Path, file: str, old: str, new: str, path: str, kind: str
) -> None:
    edit(config, file, old, new)
    p = only(validate(config).problems, "reference")
    assert (p.file, p.path) == (file, path)
    assert p.line == line_of(config, file, new.split(": ")[-1].strip("[]{}"))
    assert f"a reference to {kind}" in p.found
    assert "environment 'prod' does not have" in p.found


def test_policy_references_to_environments_and_routes(config: Path) -> None:
    edit(
        config,
        "policies/slo-chat.yaml",
        "environments: [staging, prod]",
        "environments: [staging, prod, qa]",
    )
    edit(config, "policies/canary-chat.yaml", "routes: [chat]", "routes: [chat, search]")
    problems = validate(config).problems
    paths = sorted((p.file, p.path, p.found) for p in problems)
    assert paths == [
        (
            "policies/canary-chat.yaml",
            "spec.selector.routes[1]",
            "a reference to Route 'search', which environment 'prod' does not have",
        ),
        (
            "policies/canary-chat.yaml",
            "spec.selector.routes[1]",
            "a reference to Route 'search', which environment 'staging' does not have",
        ),
        (
            "policies/slo-chat.yaml",
            "spec.selector.environments[2]",
            "environment 'qa', which has no folder under environments/",
        ),
    ]


def test_a_broken_model_is_not_also_a_dangling_reference(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "tensorParallel: 4", "tensorParallel: 0")
    problems = validate(config).problems
    assert [p.rule for p in problems] == ["schema"]


# --- routes -----------------------------------------------------------------------------------

VARIANTS = """  variants:
    - {name: control, model: chat-v1, weight: 60}
    - {name: treatment, model: chat-small, weight: WEIGHT}
"""


def test_variant_weights_must_sum_to_100(config: Path) -> None:
    edit(
        config,
        "environments/prod/routes.yaml",
        "  canary:\n",
        VARIANTS.replace("WEIGHT", "30") + "  canary:\n",
    )
    p = only(validate(config).problems, "weights")
    assert p.path == "spec.variants"
    assert p.found == "variant weights summing to 90 (60 + 30)"
    assert p.expected == "weights that sum to 100"


def test_variant_weights_that_sum_to_100_pass(config: Path) -> None:
    edit(
        config,
        "environments/prod/routes.yaml",
        "  canary:\n",
        VARIANTS.replace("WEIGHT", "40") + "  canary:\n",
    )
    assert validate(config).ok


def test_canary_percent_bounds(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: -1")
    assert only(validate(config).problems, "schema").expected == "at least 0"


@pytest.mark.parametrize("percent", ["0", "100", "12.5"])
def test_canary_percent_in_range_passes(config: Path, percent: str) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", f"percent: {percent}")
    assert validate(config).ok


def test_canary_of_the_stable_model(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "model: chat-v2", "model: chat-v1")
    p = only(validate(config).problems, "canary")
    assert p.path == "spec.canary.model"


def test_route_to_a_model_with_no_replicas(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "replicas: 2", "replicas: 0")
    p = only(validate(config).problems, "reference")
    assert (p.path, p.found) == ("spec.cascade.fast", "model 'chat-small', which has 0 replicas")


def test_default_model_as_its_own_fallback(config: Path) -> None:
    edit(
        config,
        "environments/prod/routes.yaml",
        "fallbacks: [gpt-4o-mini]",
        "fallbacks: [gpt-4o-mini, chat-v1]",
    )
    assert only(validate(config).problems, "fallbacks").path == "spec.fallbacks[1]"


# --- GPU capacity and memory fit --------------------------------------------------------------


def test_gpu_capacity_exceeded_names_the_numbers(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "replicas: 1", "replicas: 4")
    p = only(validate(config).problems, "capacity")
    assert (p.file, p.resource, p.path) == (
        "environments/prod/pools.yaml",
        "GpuPool/h100",
        "spec.maxNodes",
    )
    assert p.found == "models needing 20 GPUs (tensorParallel × replicas: chat-v1 4×4, chat-v2 4×1)"
    assert p.expected == "at most 16 GPUs: maxNodes 2 × gpusPerNode 8"


def test_gpu_capacity_exactly_full_passes(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "replicas: 1", "replicas: 3")
    assert validate(config).ok  # 4×3 + 4×1 = 16 GPUs of 16


def test_tensor_parallel_beyond_one_node(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "replicas: 2", "replicas: 1")
    edit(
        config,
        "environments/prod/models.yaml",
        "tensorParallel: 1\n  replicas: 1\n  pool: l4",
        "tensorParallel: 2\n  replicas: 1\n  pool: l4",
    )
    p = only(validate(config).problems, "capacity")
    assert p.path == "spec.tensorParallel"
    assert "at most 1, the GPUs per node of pool 'l4'" in p.expected


def test_weights_that_do_not_fit_name_the_numbers(config: Path) -> None:
    edit(
        config,
        "environments/prod/models.yaml",
        "quantization: fp8\n  framework: vllm\n  tensorParallel: 4",
        "quantization: bf16\n  framework: vllm\n  tensorParallel: 1",
    )
    p = only(validate(config).problems, "memory-fit")
    assert (p.resource, p.path) == ("Model/chat-v1", "spec.tensorParallel")
    assert p.found == "weights of 130.4 GiB (70B parameters × 2 bytes at bf16)"
    assert p.expected == (
        "at most 57.6 GiB: tensorParallel 1 × 80 GiB (h100) × 0.9 utilization, less 20% kept "
        "for the KV cache; tensorParallel 4 would fit"
    )


def test_int4_on_one_gpu_fits(config: Path) -> None:
    # 70B × 0.5 bytes = 32.6 GiB <= 80 × 0.9 × 0.8 = 57.6 GiB
    edit(
        config,
        "environments/prod/models.yaml",
        "quantization: fp8\n  framework: vllm\n  tensorParallel: 4",
        "quantization: int4\n  framework: vllm\n  tensorParallel: 1",
    )
    assert validate(config).ok


def test_self_hosted_model_needs_a_pool_and_a_size(config: Path) -> None:
    edit(config, "environments/prod/models.yaml", "  pool: l4\n", "")
    edit(config, "environments/prod/models.yaml", "  parameterCount: 70B\n", "")
    problems = validate(config).problems
    assert {(p.rule, p.path) for p in problems} == {
        ("placement", "spec.pool"),
        ("memory-fit", "spec.parameterCount"),
    }


def test_external_api_model_takes_no_pool(config: Path) -> None:
    edit(
        config,
        "environments/prod/models.yaml",
        "framework: external-api\n",
        "framework: external-api\n  pool: h100\n",
    )
    assert only(validate(config).problems, "placement").path == "spec.pool"


# --- guardrails and budgets -------------------------------------------------------------------


def test_redact_needs_a_guardrail_that_finds_spans(config: Path) -> None:
    edit(config, "environments/prod/guardrails.yaml", "action: block", "action: redact")
    p = only(validate(config).problems, "guardrail")
    assert (p.resource, p.path) == ("Guardrail/prompt-injection", "spec.action")


def test_regex_guardrail_patterns_must_compile(config: Path) -> None:
    (config / "environments/prod/regex.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: Guardrail\nmetadata: {name: ids}\n"
        "spec:\n  type: regex\n  stage: output\n  action: redact\n"
        "  patterns:\n    - 'EMP-[0-9]{6}'\n    - 'ACC-[0-9'\n"
    )
    p = only(validate(config).problems, "guardrail")
    assert (p.line, p.path) == (10, "spec.patterns[1]")
    assert "does not compile" in p.found


def test_budget_thresholds_ascend(config: Path) -> None:
    edit(
        config,
        "environments/prod/budgets.yaml",
        "{percent: 80, action: notify}",
        "{percent: 100, action: notify}",
    )
    p = only(validate(config).problems, "thresholds")
    assert p.found == "threshold percents 100, 100"


def test_burn_rate_windows(config: Path) -> None:
    edit(
        config,
        "policies/slo-chat.yaml",
        "burnRate: {preset: 30d}",
        "burnRate:\n        windows:\n          - {long: 5m, short: 1h, factor: 14.4}",
    )
    p = only(validate(config).problems, "policy")
    assert p.path == "spec.objectives[0].burnRate.windows[0].short"
    assert p.found == "short window 1h, not shorter than the long window 5m"


# --- all at once, and the environment filter --------------------------------------------------


def test_every_problem_is_reported_at_once(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    edit(config, "environments/staging/models.yaml", "pool: l4", "pool: a100")
    edit(
        config,
        "environments/dev/models.yaml",
        "apiKey: env:OPENAI_API_KEY",
        "apiKey: sk-proj-" + "x" * 40,
    )
    edit(config, "policies/cost-chat.yaml", "limitUsd: 1500", "limitUsd: -5")
    result = validate(config)
    assert sorted(p.rule for p in result.problems) == ["reference", "schema", "schema", "secret"]
    assert result.states == {}


def test_env_filter_reports_only_that_environment(config: Path) -> None:
    edit(config, "environments/staging/models.yaml", "pool: l4", "pool: a100")
    result = validate(config, ["prod"])
    assert result.ok
    assert list(result.states) == ["prod"]
    assert not validate(config, ["staging"]).ok


def test_only_clean_environments_get_a_desired_state(config: Path) -> None:
    edit(config, "environments/prod/pools.yaml", "gpusPerNode: 8", "gpusPerNode: many")
    result = validate(config)
    assert sorted(result.states) == ["dev", "staging"]


def test_latency_thresholds_must_be_histogram_bucket_bounds(config: Path) -> None:
    edit(config, "policies/slo-chat.yaml", "threshold: 200ms", "threshold: 250ms")
    problems = validate(config).problems
    assert {p.found for p in problems} == {
        f"250ms, which is not a bucket bound of the gateway ttft histogram in environment '{env}'"
        for env in ("prod", "staging")
    }
    p = problems[0]
    assert (p.rule, p.path) == ("buckets", "spec.guards[0].threshold")
    assert p.expected == "a bucket bound, such as the nearest: 200ms or 300ms"


# --- consumers ----------------------------------------------------------------------------------


def test_a_key_names_one_consumer(config: Path) -> None:
    prod = config / "environments/prod/consumers.yaml"
    text = prod.read_text()
    hash_line = "sha256: 3f1e0a4d2c8b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
    prod.write_text(
        text.replace(
            "    - name: current\n      secret: env:SUPPORT_BOT_API_KEY",
            f"    - name: current\n      {hash_line}",
        )
    )
    p = only(validate(config, ["prod"]).problems, "unique")
    assert (p.resource, p.path) == ("Consumer/support-bot", "spec.keys[0]")
    assert p.found == "a key Consumer/search-app lists"


def test_a_consumer_key_is_a_hash_or_a_reference_never_both(config: Path) -> None:
    edit(
        config,
        "environments/dev/consumers.yaml",
        "      secret: env:DEV_APP_API_KEY",
        "      secret: env:DEV_APP_API_KEY\n      sha256: " + "a" * 64,
    )
    p = only(validate(config, ["dev"]).problems, "schema")
    assert p.path == "spec.keys[0]"
    assert "exactly one of sha256 and secret" in p.expected


def test_a_consumer_may_name_only_routes_that_exist(config: Path) -> None:
    edit(
        config,
        "environments/staging/consumers.yaml",
        "routes: [chat]\n  rateLimits:\n    requestsPerMinute: 120",
        "routes: [chta]\n  rateLimits:\n    requestsPerMinute: 120",
    )
    p = only(validate(config, ["staging"]).problems, "reference")
    assert (p.resource, p.path) == ("Consumer/search-app", "spec.routes[0]")


def test_throttle_needs_a_rate_limit_to_halve(config: Path) -> None:
    (config / "environments/dev/budgets.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: Budget\nmetadata: {name: platform}\n"
        "spec:\n  scope: {type: team, name: platform}\n  period: day\n  limitUsd: 5\n"
        "  thresholds:\n    - {percent: 100, action: throttle}\n"
    )
    edit(config, "environments/dev/routes.yaml", "  rateLimits:\n    requestsPerMinute: 60\n", "")
    p = only(validate(config, ["dev"]).problems, "thresholds")
    assert (p.resource, p.path, p.line) == ("Budget/platform", "spec.thresholds[0].action", 9)
    # A limit on the team's consumer is one to halve.
    edit(
        config,
        "environments/dev/consumers.yaml",
        "  team: platform\n",
        "  team: platform\n  rateLimits: {requestsPerMinute: 10}\n",
    )
    assert validate(config, ["dev"]).problems == ()
