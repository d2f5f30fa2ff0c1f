"""Loading from a git revision of a real repository, without touching the working tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane import engine
from controlplane.errors import ConfigError
from controlplane.validate import validate_config
from tests.support.config import REPO, edit
from tests.support.processes import git

pytestmark = pytest.mark.integration


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A clone of a bare origin, holding the shipped config under config/ at two commits."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, work / "config" / folder)
    git(work, "add", ".")
    git(work, "commit", "-m", "canary at 10%")
    edit(work / "config", "environments/prod/routes.yaml", "percent: 10", "percent: 25")
    git(work, "commit", "-am", "canary at 25%")
    git(work, "push", "origin", "main")
    return work


def canary_percent(root: Path, rev: str | None) -> float:
    result = validate_config(engine.load(root, rev))
    assert result.ok, result.problems
    canary = result.states["prod"].routes[0].spec.canary
    assert canary is not None
    return canary.percent


def test_reads_each_revision_of_a_subfolder(repo: Path) -> None:
    root = repo / "config"
    assert canary_percent(root, "HEAD") == 25
    assert canary_percent(root, "HEAD~1") == 10
    assert canary_percent(root, "origin/main~1") == 10
    sha = git(repo, "rev-parse", "HEAD~1")
    assert canary_percent(root, sha[:10]) == 10


def test_revision_ignores_and_keeps_uncommitted_edits(repo: Path) -> None:
    root = repo / "config"
    edit(root, "environments/prod/routes.yaml", "percent: 25", "percent: 140")
    assert canary_percent(root, "HEAD") == 25
    assert not validate_config(engine.load(root)).ok  # the working folder has the edit
    assert "percent: 140" in (root / "environments/prod/routes.yaml").read_text()
    assert git(repo, "status", "--porcelain") == "M config/environments/prod/routes.yaml"


def test_revision_positions_match_the_committed_file(repo: Path) -> None:
    loaded = engine.load(repo / "config", "HEAD")
    route = next(
        d
        for d in loaded.documents
        if d.label == "Route/chat" and d.file == "environments/prod/routes.yaml"
    )
    committed = git(repo, "show", "HEAD:config/environments/prod/routes.yaml").splitlines()
    line = route.line_of(("spec", "canary", "percent"))
    assert committed[line - 1].strip() == "percent: 25"


def test_reads_a_bare_repository(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    loaded = engine.load(bare, "main")
    # The bare repository's root is the repository root, so the config is under config/.
    assert loaded.documents == ()
    git(repo, "mv", "config/environments", "environments")
    git(repo, "mv", "config/policies", "policies")
    git(repo, "commit", "-m", "move to the root")
    git(repo, "push", "origin", "main")
    assert canary_percent(bare, "main") == 25


def test_unknown_revision_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match="'nope': no such revision"):
        engine.load(repo / "config", "nope")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not inside a git repository"):
        engine.load(tmp_path, "HEAD")


def test_links_in_a_commit_are_followed_inside_it_and_refused_outside(
    repo: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("# SECRET-LINE\n")
    dev = repo / "config/environments/dev"
    (dev / "leak.yaml").symlink_to(secret)  # absolute, outside
    (dev / "climb.yaml").symlink_to("../../../../outside.yaml")  # relative, climbing out
    (repo / "config/shared.yaml").write_text((dev / "routes.yaml").read_text())
    (dev / "routes.yaml").unlink()
    (dev / "routes.yaml").symlink_to("../../shared.yaml")  # inside the commit
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "links")
    loaded = engine.load(repo / "config", "HEAD")
    result = validate_config(loaded, ["dev"])
    refused = {p.file: p.found for p in result.problems}
    assert refused == {
        "environments/dev/leak.yaml": "a symbolic link to outside the repository",
        "environments/dev/climb.yaml": "a symbolic link to outside the repository",
    }
    assert "SECRET-LINE" not in "".join(loaded.texts.values())
    routes = [d for d in loaded.documents if d.file == "environments/dev/routes.yaml"]
    assert [d.data["metadata"]["name"] for d in routes] == ["chat"]  # followed inside
