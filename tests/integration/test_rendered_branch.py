"""The rendered branch with real git: commits only when the tree changes, never touches other
folders or a checkout, pushes without force, and refuses to overwrite a branch moved by
someone else (the next pass reads it again and retries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import RepoError
from controlplane.repo import RenderedBranch
from tests.support.processes import bare_origin, git

pytestmark = pytest.mark.integration


def origin_and_mirror(tmp_path: Path) -> tuple[Path, Path]:
    origin = bare_origin(tmp_path)
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(mirror))
    return origin, mirror


def test_a_folder_is_replaced_in_one_commit_and_pushed(tmp_path: Path) -> None:
    origin, mirror = origin_and_mirror(tmp_path)
    prod = RenderedBranch(mirror, "rendered", "rendered/prod", push=True)
    staging = RenderedBranch(mirror, "rendered", "rendered/staging", push=True)
    assert prod.read() == {}  # no branch yet
    first = prod.write({"models/a.yaml": "a: 1\n", "flux.yaml": "f: 1\n"}, "render prod")
    assert first is not None
    assert git(origin, "rev-parse", "rendered") == first
    staging.write({"models/s.yaml": "s: 1\n"}, "render staging")
    assert prod.read() == {"models/a.yaml": "a: 1\n", "flux.yaml": "f: 1\n"}
    # The same files again: no commit.
    assert prod.write({"models/a.yaml": "a: 1\n", "flux.yaml": "f: 1\n"}, "again") is None
    # A file dropped from the folder is removed; the other folder is untouched.
    assert prod.write({"models/a.yaml": "a: 2\n"}, "render prod") is not None
    assert prod.read() == {"models/a.yaml": "a: 2\n"}
    assert staging.read() == {"models/s.yaml": "s: 1\n"}
    listed = git(origin, "ls-tree", "-r", "--name-only", "rendered").split()
    assert listed == ["rendered/prod/models/a.yaml", "rendered/staging/models/s.yaml"]
    assert git(origin, "log", "-1", "--format=%s%n%an", "rendered") == "render prod\ncontrolplane"
    assert git(origin, "rev-list", "--count", "main") == "1"  # main is never written


def test_a_branch_moved_by_someone_else_is_not_overwritten(tmp_path: Path) -> None:
    origin, mirror = origin_and_mirror(tmp_path)
    ours = RenderedBranch(mirror, "rendered", "rendered/prod", push=True)
    ours.write({"a.yaml": "a: 1\n"}, "render")
    # Someone else pushes to the rendered branch from another clone.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "rendered", str(origin), str(other))
    (other / "hand.yaml").write_text("by: hand\n")
    git(other, "add", ".")
    git(other, "commit", "-qm", "by hand")
    git(other, "push", "-q", "origin", "rendered")
    moved = git(origin, "rev-parse", "rendered")
    stale = RenderedBranch(mirror, "rendered", "rendered/prod", push=False)
    stale.write({"a.yaml": "a: 2\n"}, "render without reading")  # local only: diverges
    pushing = RenderedBranch(mirror, "rendered", "rendered/prod", push=True)
    with pytest.raises(RepoError, match="cannot commit the rendered manifests"):
        pushing.write({"a.yaml": "a: 9\n"}, "render")  # on the diverged branch: refused
    assert git(origin, "rev-parse", "rendered") == moved
    # Read again (fetching the branch) and write: on top of the other commit, which is kept.
    assert pushing.read() == {"a.yaml": "a: 1\n"}
    assert pushing.write({"a.yaml": "a: 3\n"}, "render") is not None
    assert git(origin, "show", "rendered:hand.yaml") == "by: hand"
    assert git(origin, "show", "rendered:rendered/prod/a.yaml") == "a: 3"


def test_a_working_clone_gets_a_local_branch_and_its_checkout_is_untouched(tmp_path: Path) -> None:
    _, _mirror = origin_and_mirror(tmp_path)
    work = tmp_path / "work"
    local = RenderedBranch(work, "rendered", "rendered/dev", push=False)
    local.write({"x.yaml": "x: 1\n"}, "render")
    assert git(work, "status", "--porcelain") == ""
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(work, "show", "rendered:rendered/dev/x.yaml") == "x: 1"
    with pytest.raises(RepoError, match=r"is not a git repository: .* plan and apply from a clone"):
        RenderedBranch(tmp_path / "nothing", "rendered", "x", push=False).read()
