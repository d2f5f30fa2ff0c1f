"""A config folder is a sandbox: links that leave it are refused with a located problem, and
what they point at is never read or quoted; links that stay inside are followed."""

from __future__ import annotations

from pathlib import Path

from controlplane.render import render_validation_github, render_validation_text
from controlplane.repo.files import MAX_FILE_BYTES
from tests.support.config import validate

OUTSIDE_YAML = """\
apiVersion: controlplane.dev/v1alpha1
kind: Guardrail
metadata: {name: smuggled}
spec: {type: pii, stage: input, action: redact, entities: [email]}
"""


def test_links_out_of_the_repository_are_refused_unread(config: Path, tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-LINE\n")
    valid = tmp_path / "outside.yaml"
    valid.write_text(OUTSIDE_YAML)
    (config / "environments/dev/leak.yaml").symlink_to(secret)
    (config / "environments/dev/smuggled.yaml").symlink_to(valid)
    (config / "environments/dev/folder").symlink_to(tmp_path)
    result = validate(config, ["dev"])
    found = {p.file: p for p in result.problems}
    assert set(found) == {
        "environments/dev/leak.yaml",
        "environments/dev/smuggled.yaml",
        "environments/dev/folder",
    }
    assert all(p.found == "a symbolic link to outside the repository" for p in found.values())
    assert all(p.rule == "layout" for p in found.values())
    for text in (
        render_validation_text(result, ["dev"]),
        render_validation_github(result, ["dev"]),
    ):
        assert "SECRET-LINE" not in text
        assert str(tmp_path) not in text  # not even where it points
    assert "dev" not in result.states  # nothing smuggled in


def test_links_inside_the_repository_are_followed(config: Path) -> None:
    (config / "shared").mkdir()
    routes = config / "environments/dev/routes.yaml"
    (config / "shared/routes.yaml").write_text(routes.read_text())
    routes.unlink()
    routes.symlink_to(config / "shared/routes.yaml")
    result = validate(config, ["dev"])
    assert result.ok, result.problems
    assert [r.name for r in result.states["dev"].routes] == ["chat"]


def test_a_broken_link_and_an_oversized_file_are_refused(config: Path) -> None:
    (config / "environments/dev/gone.yaml").symlink_to(config / "nowhere.yaml")
    (config / "environments/dev/huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    problems = validate(config, ["dev"]).problems
    by_file = {p.file: p.found for p in problems}
    assert by_file["environments/dev/gone.yaml"] == "a symbolic link to nothing"
    assert by_file["environments/dev/huge.yaml"].startswith("a file of 4,194,305 bytes")
    assert {p.rule for p in problems} == {"layout"}
