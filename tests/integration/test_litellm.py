"""The LiteLLM driver against a real LiteLLM proxy (PyPI, offline), in front of the upstream
simulator: apply, read back, route, fall back, change, prune, drift, a failed reload."""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openapi_schema_validator import OAS31Validator

from controlplane import engine
from controlplane.errors import InvalidConfig
from controlplane.plan import ChangeKind, Outcome
from controlplane.policy.dialects import LITELLM
from controlplane.spec.environment import LiteLLMMode
from controlplane.targets.litellm import LiteLLMDriver
from tests.support.config import edit
from tests.support.processes import free_port, simulator
from tests.support.serving import MASTER_KEY, LiteLLM, litellm_proxy

pytestmark = pytest.mark.integration

ENVIRONMENT = """apiVersion: controlplane.dev/v1alpha1
kind: Environment
metadata: {{name: edge}}
spec:
  targets:
    - type: litellm
      url: {url}
      masterKey: env:TEST_LITELLM_MASTER_KEY
      configFile: {config_file}
      reloadCommand: [{reload}]
      readyTimeout: 90s
  prune: true
"""

MODELS = """apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: chat-v1}}
spec:
  baseModel: model-v1
  framework: openai-compatible
  endpoint: {sim}/v1
  apiKey: env:UPSTREAM_KEY
  pricing: {{inputPer1M: 1.0, outputPer1M: 2.0}}
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: chat-v2}}
spec:
  baseModel: model-v2
  framework: openai-compatible
  endpoint: {sim}/v1
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: broken}}
spec:
  baseModel: model-broken
  framework: openai-compatible
  endpoint: http://127.0.0.1:{dead}/v1
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: spare}}
spec:
  baseModel: model-spare
  framework: openai-compatible
  endpoint: {sim}/v1
"""

ROUTES = """apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata: {name: chat}
spec:
  model: chat-v1
  canary: {model: chat-v2, percent: 30}
  guardrails: [mask-email]
  timeout: 20s
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata: {name: flaky}
spec:
  model: broken
  fallbacks: [spare]
"""

GUARDRAILS = """apiVersion: controlplane.dev/v1alpha1
kind: Guardrail
metadata: {name: mask-email}
spec:
  type: pii
  stage: input
  action: redact
  entities: [email]
"""


@dataclass
class Edge:
    root: Path
    proxy: LiteLLM

    def driver(self) -> LiteLLMDriver:
        return LiteLLMDriver(
            "litellm",
            self.proxy.url,
            MASTER_KEY,
            config_file=str(self.proxy.config_file),
            reload_command=self.proxy.reload_command,
            ready_timeout=90,
        )

    def plan(self) -> engine.TargetPlan:
        desired = engine.desired_state(self.root, "edge")
        [planned] = engine.plan_targets(desired, [self.driver()])
        return planned

    def apply(self) -> engine.TargetPlan:
        planned = self.plan()
        result = engine.apply_plan(planned.plan, planned.target)
        assert all(r.outcome is Outcome.APPLIED for r in result.results), result.results
        return planned

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.proxy.url}/v1", api_key=MASTER_KEY, max_retries=0)

    def deployments(self) -> dict[str, dict[str, object]]:
        data = self.proxy.get("/model/info").json()["data"]
        return {d["model_info"]["id"]: d for d in data}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    tmp = tmp_path_factory.mktemp("litellm")
    mp = pytest.MonkeyPatch()
    mp.setenv("TEST_LITELLM_MASTER_KEY", MASTER_KEY)
    mp.setenv("UPSTREAM_KEY", "sk-upstream-test")
    with (
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "3") as sim,
        litellm_proxy(tmp / "proxy") as proxy,
    ):
        root = tmp / "config"
        folder = root / "environments" / "edge"
        folder.mkdir(parents=True)
        (folder / "environment.yaml").write_text(
            ENVIRONMENT.format(
                url=proxy.url, config_file=proxy.config_file, reload=proxy.reload_command[0]
            )
        )
        (folder / "models.yaml").write_text(MODELS.format(sim=sim, dead=free_port()))
        (folder / "routes.yaml").write_text(ROUTES)
        (folder / "guardrails.yaml").write_text(GUARDRAILS)
        yield Edge(root, proxy)
    mp.undo()


def test_apply_maps_routes_models_fallbacks_and_guardrails_and_reads_back_in_sync(
    edge: Edge,
) -> None:
    planned = edge.plan()
    kinds = collections.Counter(c.kind for c in planned.plan.changes)
    assert kinds == {"LiteLLMDeployment": 4, "LiteLLMGuardrail": 1, "LiteLLMRouterSettings": 1}
    edge.apply()

    live = edge.deployments()
    assert set(live) >= {"chat:chat-v1", "chat:chat-v2", "flaky:broken", "flaky:fallback:spare"}
    stable, canary = live["chat:chat-v1"], live["chat:chat-v2"]
    assert stable["litellm_params"]["weight"] == 70  # type: ignore[index]
    assert canary["litellm_params"]["weight"] == 30  # type: ignore[index]
    assert stable["litellm_params"]["input_cost_per_token"] == pytest.approx(1e-6)  # type: ignore[index]
    # The key stays a reference: in the file as LiteLLM's os.environ form, never the value.
    text = edge.proxy.config_file.read_text()
    assert "os.environ/UPSTREAM_KEY" in text
    assert "sk-upstream-test" not in text
    assert "sk-upstream-test" not in edge.proxy.get("/model/info").text
    router = edge.proxy.get("/router/settings").json()["current_values"]
    assert {"flaky": ["flaky:fallback:spare"]} in router["fallbacks"]

    assert edge.plan().plan.empty  # what was written reads back equal


def test_weights_split_traffic_and_fallback_and_guardrail_act_on_requests(edge: Edge) -> None:
    client = edge.client()
    served: collections.Counter[str] = collections.Counter()
    for i in range(200):
        response = client.chat.completions.with_raw_response.create(
            model="chat", messages=[{"role": "user", "content": f"hello {i}"}]
        )
        served[response.headers["x-litellm-model-id"]] += 1
    assert 40 <= served["chat:chat-v2"] <= 80, served  # 30% of 200, well within 4 sigma

    answer = client.chat.completions.create(
        model="flaky", messages=[{"role": "user", "content": "still there?"}]
    )
    assert answer.choices[0].message.content  # the broken deployment fell back to spare

    masked = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "mail bob@example.com now"}]
    )
    content = masked.choices[0].message.content or ""
    assert "bob@example.com" not in content
    assert "[EMAIL_REDACTED]" in content


def test_a_canary_change_is_one_weight_field_per_arm_and_goes_live(edge: Edge) -> None:
    edit(edge.root, "environments/edge/routes.yaml", "percent: 30", "percent: 40")
    planned = edge.plan()
    fields = {c.name: [(f.path, f.old, f.new) for f in c.fields] for c in planned.plan.changes}
    assert fields == {
        "chat:chat-v1": [("litellm_params.weight", 70, 60)],
        "chat:chat-v2": [("litellm_params.weight", 30, 40)],
    }
    # History blames the config resources each deployment is made of.
    assert {c.sources for c in planned.plan.changes} == {
        ("Route/chat", "Model/chat-v1"),
        ("Route/chat", "Model/chat-v2"),
    }
    edge.apply()
    live = edge.deployments()
    assert live["chat:chat-v1"]["litellm_params"]["weight"] == 60  # type: ignore[index]
    assert live["chat:chat-v2"]["litellm_params"]["weight"] == 40  # type: ignore[index]


def test_hand_edits_are_drift_and_hand_made_deployments_are_never_deleted(edge: Edge) -> None:
    config = yaml.safe_load(edge.proxy.config_file.read_text())
    for entry in config["model_list"]:
        if entry["model_info"]["id"] == "chat:chat-v2":
            entry["litellm_params"]["weight"] = 5  # someone edits the live proxy by hand
    config["model_list"].append(
        {
            "model_name": "hand-made",
            "litellm_params": {"model": "openai/x", "api_base": "http://127.0.0.1:1/v1"},
            "model_info": {"id": "hand-made-1"},
        }
    )
    edge.proxy.config_file.write_text(yaml.safe_dump(config))
    edge.driver()._reload()
    edge.proxy.wait_ready()

    plan = edge.plan().plan
    [drift] = plan.changes
    assert drift.name == "chat:chat-v2"
    assert [(f.path, f.old, f.new) for f in drift.fields] == [("litellm_params.weight", 5, 40)]
    assert [(s.name, s.reason) for s in plan.skipped] == [
        ("hand-made-1", "not created by controlplane")
    ]
    edge.apply()
    assert "hand-made-1" in edge.deployments()  # kept through the apply


def test_removing_a_model_deletes_its_deployment_and_fallback(edge: Edge) -> None:
    edit(edge.root, "environments/edge/routes.yaml", "  fallbacks: [spare]\n", "")
    planned = edge.plan()
    actions = {(c.action, c.kind, c.name) for c in planned.plan.changes}
    assert actions == {
        (ChangeKind.DELETE, "LiteLLMDeployment", "flaky:fallback:spare"),
        (ChangeKind.UPDATE, "LiteLLMRouterSettings", "router"),
    }
    edge.apply()
    assert "flaky:fallback:spare" not in edge.deployments()
    assert edge.plan().plan.empty


def test_a_failed_reload_restores_the_file_and_fails_the_whole_apply(edge: Edge) -> None:
    before = edge.proxy.config_file.read_bytes()
    edit(edge.root, "environments/edge/routes.yaml", "percent: 40", "percent: 45")
    desired = engine.desired_state(edge.root, "edge")
    driver = LiteLLMDriver(
        "litellm",
        edge.proxy.url,
        MASTER_KEY,
        config_file=str(edge.proxy.config_file),
        reload_command=["sh", "-c", "echo reload refused >&2; exit 3"],
        ready_timeout=10,
    )
    plan = engine.plan_target(desired, driver)
    result = engine.apply_plan(plan, driver)
    assert {r.outcome for r in result.results} == {Outcome.FAILED}
    error = result.results[0].error
    assert "exited 3: reload refused" in error
    assert "previous config file was put back" in error
    assert edge.proxy.config_file.read_bytes() == before
    edit(edge.root, "environments/edge/routes.yaml", "percent: 45", "percent: 40")


def test_what_litellm_cannot_express_is_refused_with_file_line_and_why(edge: Edge) -> None:
    routes = edge.root / "environments/edge/routes.yaml"
    original = routes.read_text()
    routes.write_text(
        original.replace("  timeout: 20s\n", "  timeout: 20s\n  stickiness: {key: user}\n")
    )
    try:
        with pytest.raises(InvalidConfig) as caught:
            engine.desired_state(edge.root, "edge")
    finally:
        routes.write_text(original)
    [problem] = caught.value.problems
    assert problem.file.endswith("environments/edge/routes.yaml")
    assert problem.line == 9
    assert problem.path == "spec.stickiness"
    assert "not supported by litellm" in problem.expected
    assert "cannot keep a caller in one arm" in problem.expected


def _bounds(text: str, histogram: str) -> tuple[float, ...]:
    pattern = rf'^{re.escape(histogram)}_bucket{{.*le="([^"]+)"'
    return tuple(sorted({float(le) for le in re.findall(pattern, text, re.M) if le != "+Inf"}))


def test_the_litellm_dialect_matches_the_real_proxys_metrics(edge: Edge) -> None:
    client = edge.client()
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    for _ in client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        pass  # time to first token is observed on streams only
    text = httpx.get(f"{edge.proxy.url}/metrics/", timeout=10).text
    for metric, histogram in LITELLM.histograms.items():
        assert _bounds(text, histogram) == LITELLM.buckets[metric], histogram
        assert f'{LITELLM.route_label}="chat"' in _lines(text, histogram + "_count")
    for counter in (LITELLM.requests, LITELLM.input_tokens, LITELLM.output_tokens, LITELLM.cost):
        assert f'{LITELLM.route_label}="chat"' in _lines(text, counter), counter
    assert 'status_code="200"' in _lines(text, LITELLM.requests)


def _lines(text: str, name: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.startswith(name + "{"))


FALLBACK = "  model: broken\n  fallbacks: [spare]\n"


def test_admin_api_writes_match_the_real_proxys_published_schemas(edge: Edge) -> None:
    """LiteLLM's admin API writes need its database, which cannot run here (Prisma fetches its
    engine from the internet). So a STAND-IN answers them, labelled as such, and every request
    the driver sends is checked against the OpenAPI document of the real proxy, read live."""
    document = httpx.get(f"{edge.proxy.url}/openapi.json", timeout=30).json()
    sent: list[tuple[str, str, Any]] = []

    def stand_in(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            listings: dict[str, Any] = {
                "/model/info": {"data": []},
                "/guardrails/list": {"guardrails": []},
                "/router/settings": {"fields": []},
            }
            return httpx.Response(200, json=listings[request.url.path])
        sent.append((request.method, request.url.path, json.loads(request.content or b"null")))
        return httpx.Response(200, json={"message": "stand-in"})

    edit(edge.root, "environments/edge/routes.yaml", "  model: broken\n", FALLBACK)
    desired = engine.desired_state(edge.root, "edge")
    edit(edge.root, "environments/edge/routes.yaml", FALLBACK, "  model: broken\n")
    driver = LiteLLMDriver(
        "litellm",
        "http://litellm.stand-in",
        MASTER_KEY,
        mode=LiteLLMMode.ADMIN_API,
        retries=0,
        transport=httpx.MockTransport(stand_in),
    )
    plan = engine.plan_target(desired, driver)
    result = engine.apply_plan(plan, driver)
    assert {r.outcome for r in result.results} == {Outcome.APPLIED}
    assert [(m, p) for m, p, _ in sent] == [
        ("POST", "/guardrails"),
        *[("POST", "/model/new")] * 4,
        ("POST", "/fallback"),
    ]
    for method, path, body in sent:
        operation = document["paths"][path][method.lower()]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        OAS31Validator({**schema, "components": document["components"]}).validate(body)
    deployment = sent[1][2]
    assert deployment["model_info"]["controlplane.dev/managed-by"] == "controlplane"
    assert deployment["litellm_params"]["api_key"] == "os.environ/UPSTREAM_KEY"
