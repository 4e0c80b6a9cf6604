"""mc/git.py: tree diffs and object writing, against git's own answers."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from mc.board.git import (
    CatFile,
    ObjectWriter,
    diff_trees,
    find_repo,
    parse_tree,
)
from mc.board.git.objects import _changed_entries

from ..conftest import git


def _tree(entries: dict[str, str]) -> bytes:
    from mc.board.git import format_tree

    return format_tree(("100644", name, sha) for name, sha in entries.items())


@pytest.mark.parametrize("seed", range(40))
def test_changed_entries_of_big_trees_match_a_full_parse(seed: int) -> None:
    rnd = random.Random(seed)
    names = {f"p{i:05d}.yaml": rnd.randbytes(20).hex() for i in range(rnd.randint(50, 3000))}
    after = dict(names)
    for _ in range(rnd.randint(0, 4)):  # moves out, moves in, edits
        op = rnd.choice(["del", "add", "edit"])
        key = rnd.choice(sorted(after)) if after else None
        if op == "del" and key:
            del after[key]
        elif op == "edit" and key:
            after[key] = rnd.randbytes(20).hex()
        else:
            after[f"p{rnd.randint(0, 99999):05d}x.yaml"] = rnd.randbytes(20).hex()
    a, b = _tree(names), _tree(after)
    before_entries, after_entries = _changed_entries(a, b)
    full_a = {n: (m, s) for m, n, s in parse_tree(a)}
    full_b = {n: (m, s) for m, n, s in parse_tree(b)}
    expected = {n for n in full_a.keys() | full_b.keys() if full_a.get(n) != full_b.get(n)}
    got = {
        n
        for n in before_entries.keys() | after_entries.keys()
        if before_entries.get(n) != after_entries.get(n)
    }
    assert got == expected
    for n in got:
        assert before_entries.get(n) == full_a.get(n) and after_entries.get(n) == full_b.get(n)


def test_diff_trees_equals_git_diff_tree_on_a_big_lane(tmp_path: Path) -> None:
    repo_path = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo_path))
    lane = repo_path / "backlog"
    lane.mkdir()
    for i in range(1500):
        (lane / f"p{i:05d}.yaml").write_text(f"title: {i}\n")
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", "one")
    (lane / "p00007.yaml").unlink()
    (lane / "p00700.yaml").write_text("title: changed\n")
    (repo_path / "up-next").mkdir()
    (repo_path / "up-next" / "p00007.yaml").write_text("title: 7\n")
    git(repo_path, "add", "-A")
    git(repo_path, "commit", "-q", "-m", "two")
    repo = find_repo(repo_path)
    with CatFile(repo) as cat:
        old, new = cat.resolve("HEAD~1^{tree}"), cat.resolve("HEAD^{tree}")
        assert (cat.size(cat.resolve("HEAD:backlog") or "") or 0) > 50_000
        ours = sorted((p, o, n) for p, o, n, _ in diff_trees(cat, old, new))
    raw = subprocess.run(
        ["git", "diff-tree", "-r", "--no-renames", "--raw", "--abbrev=40", "HEAD~1", "HEAD"],
        cwd=repo_path,
        capture_output=True,
        text=True,
    ).stdout
    theirs = []
    for line in raw.splitlines():
        meta, path = line.split("\t")
        _, _, o, n, _ = meta.split()
        zero = "0" * 40
        theirs.append((path, None if o == zero else o, None if n == zero else n))
    assert ours == sorted(theirs)


def test_object_writer_writes_what_git_reads(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", str(tmp_path / "b.git"))
    repo = find_repo(tmp_path / "b.git")
    sha = ObjectWriter(repo).write("blob", b"hello\n")
    out = git(tmp_path / "b.git", "cat-file", "-p", sha).stdout
    assert out == "hello\n"
    assert sha == git(tmp_path, "hash-object", "--stdin", input="hello\n").stdout.strip()


def test_tree_has_finds_entries_and_nothing_else() -> None:
    from mc.board.git import tree_has

    names = {f"p{i:03d}.yaml": ("ab" * 20) for i in range(200)}
    data = _tree(names)
    assert all(tree_has(data, n) for n in names)
    assert not tree_has(data, "p999.yaml")
    assert not tree_has(data, "p00.yaml")  # a prefix of real names
    assert not tree_has(data, "00.yaml")  # a suffix of real names
