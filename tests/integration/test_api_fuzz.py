"""The service's API and the gateway's admin API under generated requests: schemathesis reads
each server's OpenAPI and sends what it describes and what it does not; no answer may be a 5xx.
The webhook, which the OpenAPI does not describe, gets generated bodies and signatures."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.processes import TOKEN, gateway
from tests.support.service import API_TOKEN, SECRET, Service, service

__all__ = ["service"]  # the fixture
ST = Path(sys.executable).parent / "st"
EXAMPLES = "25"  # per operation and phase: bounded, seeded, reproducible


def schemathesis(url: str, token: str) -> int:
    """Run schemathesis against URL's OpenAPI; the number of generated cases it checked."""
    run = subprocess.run(
        [
            str(ST),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "1",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    found = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert found, run.stdout[-2000:]
    assert found.group(1) == found.group(2)
    return int(found.group(1))


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with gateway() as url:
        yield url


def test_the_gateway_admin_api_never_answers_5xx(gateway_url: str) -> None:
    cases = schemathesis(gateway_url, TOKEN)
    print(f"gateway admin API: {cases} generated cases")
    assert cases >= 100


def test_the_service_api_never_answers_5xx(service: Service) -> None:
    cases = schemathesis(service.url, API_TOKEN)
    print(f"service API: {cases} generated cases")
    assert cases >= 100


def test_the_webhook_never_answers_5xx(service: Service) -> None:
    url = f"{service.url}/webhooks/git"

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
        st.booleans(),
        st.dictionaries(
            st.sampled_from(["x-github-delivery", "x-gitea-signature", "content-type"]),
            st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
            max_size=2,
        ),
    )
    def check(body: bytes, signed: bool, headers: dict[str, str]) -> None:
        if signed:
            digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {**headers, "x-hub-signature-256": f"sha256={digest}"}
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
        assert answer.status_code < 500, answer.text
        assert answer.status_code in (202, 400, 401), answer.text

    check()
