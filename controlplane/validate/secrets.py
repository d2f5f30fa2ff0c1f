"""Inline credentials: config in git may refer to a secret, never hold one.

Known token formats come from detect-secrets' regex detectors (AWS, GitHub, GitLab, Slack,
Stripe, JWTs, private keys, credentials in URLs, ...), plus one detector of ours for the LLM
providers it does not know. Every line of every file is scanned, comments included, and so is
every value under a key whose name says it holds a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.ip_public import IPPublicDetector

from controlplane.documents import Document, FieldPath
from controlplane.errors import Problem
from controlplane.spec.base import SECRET_REF_PATTERN


class LLMProviderKeyDetector(RegexBasedDetector):
    """API keys of LLM providers and gateways, which detect-secrets has no detector for."""

    secret_type = "API key or bearer token"
    denylist = (
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d+-)?[A-Za-z0-9_-]{20,}"),
        re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
        re.compile(r"\bgsk_[A-Za-z0-9]{40,}"),
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
        re.compile(r"\br8_[A-Za-z0-9]{37}"),
        re.compile(r"\bpplx-[A-Za-z0-9]{40,}"),
        re.compile(r"\bxai-[A-Za-z0-9]{40,}"),
        re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
    )


# Keys whose values are credentials by their name, compared without case, '-' or '_'.
CREDENTIAL_KEYS = frozenset(
    {
        "apikey",
        "token",
        "accesstoken",
        "bearertoken",
        "authtoken",
        "password",
        "passwd",
        "secret",
        "clientsecret",
        "secretkey",
        "privatekey",
        "masterkey",
        "authorization",
    }
)
_SECRET_REF = re.compile(SECRET_REF_PATTERN)
_EXPECTED = "a reference such as env:VAR or file:/path, with the value kept out of git"


@cache
def _detectors() -> tuple[RegexBasedDetector, ...]:
    classes: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
    chosen = [
        cls()
        for cls in classes
        if issubclass(cls, RegexBasedDetector) and cls is not IPPublicDetector
    ]
    return (*sorted(chosen, key=lambda d: d.secret_type), LLMProviderKeyDetector())


def secret_kind(text: str) -> str | None:
    """What kind of credential `text` contains, or None."""
    for detector in _detectors():
        if any(True for _ in detector.analyze_string(text)):
            return str(detector.secret_type)
    return None


def find_inline_secrets(texts: dict[str, str], documents: tuple[Document, ...]) -> list[Problem]:
    """One problem per line that holds a credential, pointing at the field where there is one."""
    problems: dict[tuple[str, int], Problem] = {}
    for document in documents:
        for path, value in _strings(document.data, ()):
            found = _credential_in_field(path, value)
            if found is not None:
                line = document.line_of(path)
                problems[(document.file, line)] = document.problem(path, found, _EXPECTED, "secret")
    for file, text in texts.items():
        for number, line_text in enumerate(text.splitlines(), start=1):
            if (file, number) in problems:
                continue
            kind = secret_kind(line_text)
            if kind is not None:
                problems[(file, number)] = Problem(
                    file=file,
                    line=number,
                    path="",
                    found=f"an inline {kind} (redacted)",
                    expected=_EXPECTED,
                    rule="secret",
                )
    return sorted(problems.values())


def _credential_in_field(path: FieldPath, value: str) -> str | None:
    if _SECRET_REF.match(value):
        return None
    kind = secret_kind(value)
    if kind is not None:
        return f"an inline {kind} (redacted)"
    key = path[-1] if path else ""
    if isinstance(key, str) and re.sub(r"[-_]", "", key.lower()) in CREDENTIAL_KEYS and value:
        return f"an inline value under {key!r} (redacted)"
    return None


def _strings(data: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key if isinstance(key, (str, int)) else str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, (*path, index))
