"""Inline credentials: config in git may refer to a secret, never hold one.

Known token formats come from detect-secrets' regex detectors (AWS, GitHub, GitLab, Slack,
Stripe, JWTs, private keys, credentials in URLs, ...), plus one detector of ours for the LLM
providers it does not know. Every line of every file is scanned, comments included, and so is
every value under a key whose name says it holds a credential.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.ip_public import IPPublicDetector

from controlplane.config.documents import Document, FieldPath
from controlplane.errors import Problem, Rule
from controlplane.spec.base import SECRET_REF_PATTERN


class ProviderTokenDetector(RegexBasedDetector):
    """Token formats detect-secrets has no detector for: LLM providers and gateways, fine-grained
    GitHub tokens, cloud and platform tokens, and AWS secret keys in every assignment form."""

    secret_type = "API key or bearer token"
    denylist = (
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d+-)?[A-Za-z0-9_-]{20,}"),
        re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
        re.compile(r"\bgsk_[A-Za-z0-9]{40,}"),
        re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
        re.compile(r"\br8_[A-Za-z0-9]{37}"),
        re.compile(r"\bpplx-[A-Za-z0-9]{40,}"),
        re.compile(r"\bxai-[A-Za-z0-9]{40,}"),
        re.compile(r"\bfw_[A-Za-z0-9]{24,}"),  # Fireworks
        re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
        re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"),  # fine-grained GitHub tokens
        re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),  # GitLab personal access tokens
        re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),
        re.compile(r"\bdop_v1_[a-f0-9]{64}\b"),  # DigitalOcean
        re.compile(r"\bhvs\.[A-Za-z0-9_-]{24,}"),  # HashiCorp Vault service tokens
        re.compile(r"\bdapi[a-f0-9]{32}\b"),  # Databricks
        re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),  # SendGrid, unquoted
        # AWS secret access keys: 40 base64 characters after a name that says so, whether
        # quoted or not, with '=', ':' or '=>' (ini, env files, YAML, JSON, HCL).
        re.compile(
            r"(?i)aws.{0,20}?(?:secret|key|token).{0,20}?(?:=>|[=:])\s*['\"]?"
            r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
        ),
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
    return (*sorted(chosen, key=lambda d: d.secret_type), ProviderTokenDetector())


_LEADING_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


@cache
def _prefilter() -> re.Pattern[str]:
    """All detectors' patterns in one regex: one search rules out most strings at once."""
    parts = []
    for detector in _detectors():
        for pattern in detector.denylist:
            flags = "i" if pattern.flags & re.IGNORECASE else ""
            flags += "m" if pattern.flags & re.MULTILINE else ""
            body = _LEADING_FLAGS.sub("", pattern.pattern)  # now in `flags`, scoped to this part
            parts.append(f"(?{flags}:{body})" if flags else f"(?:{body})")
    return re.compile("|".join(parts))


# Runs of base64 long enough to hide a token (a 20-character token is 28 in base64).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")


def secret_kind(text: str) -> str | None:
    """What kind of credential `text` contains, or None; a token hidden in base64 too."""
    kind = _plain_kind(text)
    if kind is not None:
        return kind
    for run in _BASE64_RUN.findall(text):
        decoded = _decoded(run)
        if decoded is not None:
            kind = _plain_kind(decoded)
            if kind is not None:
                return f"{kind}, base64-encoded"
    return None


def _plain_kind(text: str) -> str | None:
    if not _prefilter().search(text):
        return None
    for detector in _detectors():
        if any(True for _ in detector.analyze_string(text)):
            return str(detector.secret_type)
    return None


def _decoded(run: str) -> str | None:
    """The text a base64 run (standard or URL-safe alphabet) encodes, when it is text."""
    stripped = run.rstrip("=")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text if text.isprintable() else None


def find_inline_secrets(texts: dict[str, str], documents: tuple[Document, ...]) -> list[Problem]:
    """One problem per line that holds a credential, pointing at the field where there is one.

    Each line is scanned once for token formats; fields are then matched to those lines, and a
    field under a credential-named key is reported whatever its value looks like.
    """
    found: dict[tuple[str, int], str] = {}
    for file, text in texts.items():
        for number, line_text in enumerate(text.splitlines(), start=1):
            kind = secret_kind(line_text)
            if kind is not None:
                found[(file, number)] = f"an inline {kind} (redacted)"
    problems: dict[tuple[str, int], Problem] = {}
    for document in documents:
        for path, value in _strings(document.data, ()):
            if _SECRET_REF.match(value):
                continue
            line = document.line_of(path)
            what = found.get((document.file, line)) or _credential_key(path, value)
            if what is not None:
                problems[(document.file, line)] = document.problem(
                    path, what, _EXPECTED, Rule.SECRET
                )
    for (file, line), what in found.items():
        if (file, line) not in problems:  # in a comment, or a key: no field to point at
            problems[(file, line)] = Problem(
                file=file, line=line, path="", found=what, expected=_EXPECTED, rule=Rule.SECRET
            )
    return sorted(problems.values())


def _credential_key(path: FieldPath, value: str) -> str | None:
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
