"""The git store: one commit per transition, CAS on the ref, the person's checkout left alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import Lane
from mc.errors import ProjectExists, TransitionRefused, UncommittedChanges

from ..conftest import git, head, run_mc, write


def _status(path: Path) -> str:
    return git(path, "status", "--porcelain=v1", "--untracked-files=all").stdout


def test_transition_is_one_commit_with_trailers(board: Board, board_path: Path) -> None:
    actions.new_project(board, "Build a CLI", "coder", project_id="cli")
    before = head(board_path)
    result = actions.queue(board, "cli")
    assert head(board_path) == result.commit
    assert git(board_path, "rev-parse", "HEAD^").stdout.strip() == before
    changed = git(
        board_path, "diff-tree", "--no-commit-id", "-r", "--name-status", "--no-renames", "HEAD"
    )
    assert sorted(changed.stdout.split()) == sorted(
        ["D", "backlog/cli.yaml", "A", "up-next/cli.yaml"]
    )
    body = git(board_path, "log", "-1", "--format=%B").stdout
    assert "Mc-Action: queue" in body and "Mc-Actor: human" in body and "Mc-Project: cli" in body
    assert _status(board_path) == ""
    assert (board_path / "up-next/cli.yaml").exists()
    assert not (board_path / "backlog/cli.yaml").exists()


def test_unrelated_staged_and_unstaged_edits_stay_as_they_were(
    board: Board, board_path: Path
) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    actions.new_project(board, "Two", "coder", project_id="two")
    # The person is in the middle of something: a staged edit, an unstaged edit, a new file.
    staged = board_path / "backlog/two.yaml"
    staged.write_text(staged.read_text() + "owner: me\n")
    git(board_path, "add", "backlog/two.yaml")
    unstaged = board_path / "mc.yaml"
    unstaged.write_text(unstaged.read_text() + "# a note\n")
    write(board_path / "notes.txt", "scratch\n")
    status_before = _status(board_path)
    staged_diff = git(board_path, "diff", "--cached").stdout
    unstaged_diff = git(board_path, "diff").stdout

    commit = actions.queue(board, "one").commit

    files = git(
        board_path, "show", "--no-renames", "--name-only", "--format=", commit
    ).stdout.split()
    assert sorted(files) == ["backlog/one.yaml", "up-next/one.yaml"]
    assert _status(board_path) == status_before
    assert git(board_path, "diff", "--cached").stdout == staged_diff
    assert git(board_path, "diff").stdout == unstaged_diff
    assert (board_path / "notes.txt").read_text() == "scratch\n"


def test_refuses_when_the_projects_own_file_has_uncommitted_edits(
    board: Board, board_path: Path
) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    path = board_path / "backlog/one.yaml"
    path.write_text(path.read_text() + "owner: me\n")
    tip = head(board_path)
    with pytest.raises(UncommittedChanges, match=r"backlog/one\.yaml"):
        actions.queue(board, "one")
    assert head(board_path) == tip
    assert "owner: me" in path.read_text()  # nothing lost


def test_refuses_to_overwrite_an_untracked_file_at_the_target(
    board: Board, board_path: Path
) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    write(board_path / "up-next/one.yaml", "title: mine\narchetype: coder\n")
    with pytest.raises(UncommittedChanges, match=r"up-next/one\.yaml"):
        actions.queue(board, "one")
    assert (board_path / "up-next/one.yaml").read_text() == "title: mine\narchetype: coder\n"


def test_checkout_on_another_branch_is_not_touched(board: Board, board_path: Path) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    git(board_path, "switch", "-q", "-c", "side")
    actions.queue(board, "one")
    assert (board_path / "backlog/one.yaml").exists()  # the side branch's files
    assert git(board_path, "show", "main:up-next/one.yaml").returncode == 0
    assert _status(board_path) == ""


def test_ids_are_unique_and_creation_refuses_existing(board: Board) -> None:
    actions.new_project(board, "Same", "coder", project_id="same")
    with pytest.raises(ProjectExists):
        actions.new_project(board, "Same again", "coder", project_id="same")
    second = actions.new_project(board, "Same", "coder")  # id from the title, made free
    assert second.transition.project_id == "same-2"


def test_a_refused_transition_writes_nothing(board: Board, board_path: Path) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    tip = head(board_path)
    with pytest.raises(TransitionRefused, match="only an approval"):
        actions.move(board, "one", Lane.DONE)
    with pytest.raises(TransitionRefused, match="only the pipeline"):
        actions.move(board, "one", Lane.IN_PROGRESS)
    assert head(board_path) == tip
    assert _status(board_path) == ""


def test_concurrent_writers_lose_nothing(board_path: Path) -> None:
    """Ten writers at once (threads with their own Board, as separate CLI runs would be)."""
    with Board.open(board_path) as b:
        for i in range(10):
            actions.new_project(b, f"Project {i}", "coder", project_id=f"p{i}")
    base = head(board_path)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            with Board.open(board_path) as b:
                actions.queue(b, f"p{i}")
                actions.edit(b, f"p{i}", {"owner": f"owner{i}"})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    commits = git(board_path, "rev-list", f"{base}..main").stdout.split()
    assert len(commits) == 20
    merges = git(board_path, "rev-list", "--min-parents=2", "main").stdout.split()
    assert merges == []
    with Board.open(board_path) as b:
        projects = {e.id: e for e in b.projects()}
    for i in range(10):
        entry = projects[f"p{i}"]
        assert entry.lane is Lane.UP_NEXT
        assert entry.project is not None and entry.project.get("owner") == f"owner{i}"
    assert _status(board_path) == ""


def test_a_commit_landing_meanwhile_is_kept(board: Board, board_path: Path) -> None:
    """The store builds on the tip it read; if the ref moved, it rebuilds on the new tip.

    The racing commit is the person's own `git commit` (the store's lock serialises
    writers that go through the library, so only an outside commit can race it).
    """
    actions.new_project(board, "One", "coder", project_id="one")
    actions.new_project(board, "Two", "coder", project_id="two")
    from mc.board.store import Store, Transition, person_identity

    store = Store(board)
    calls: list[str | None] = []

    def build(tip: str | None) -> Transition:
        calls.append(tip)
        if len(calls) == 1:
            # The person commits between our read and our ref update.
            git(board_path, "mv", "backlog/two.yaml", "up-next/two.yaml")
            git(board_path, "commit", "-q", "-m", "queue two by hand")
        data = (board_path / "backlog/one.yaml").read_bytes()
        return Transition(
            "one", "queue", "Queue one", {"backlog/one.yaml": None, "up-next/one.yaml": data}
        )

    store.apply(build, person_identity(board))
    assert len(calls) == 2 and calls[0] != calls[1]
    tree = git(board_path, "ls-tree", "-r", "--name-only", "main", "up-next").stdout.split()
    assert "up-next/one.yaml" in tree and "up-next/two.yaml" in tree
    assert _status(board_path) == ""


def test_service_commits_are_signed_by_the_service_key(board: Board, board_path: Path) -> None:
    actions.new_project(board, "One", "coder", project_id="one")
    actions.queue(board, "one")
    actions.dispatch(board, "one", "7")
    line = git(board_path, "log", "-1", "--format=%G? %GS|%an|%B").stdout
    assert line.startswith("G mc-service|Mission Control (dispatcher)|")
    assert "Mc-Job: 7" in line and "Mc-Actor: dispatcher" in line


def test_pipeline_write_keeps_the_persons_text(board: Board, board_path: Path) -> None:
    text = (
        "# why this matters: the client asked twice\n"
        "title: Keep my comments   # inline note\n"
        "archetype: coder\n"
        "description: >-\n"
        "  folded text\n"
        "  stays folded\n"
        "\n"
        "# labels below are for the weekly report\n"
        "labels: [a, 'b']\n"
    )
    write(board_path / "backlog/keep.yaml", text)
    git(board_path, "add", "backlog/keep.yaml")
    git(board_path, "commit", "-q", "-m", "add keep")
    actions.queue(board, "keep")
    actions.dispatch(board, "keep", "3")
    after = git(board_path, "show", "main:in-progress/keep.yaml").stdout
    assert after.startswith(text)
    assert "run:\n  job: '3'\n" in after[len(text) :]


def test_a_person_committing_while_the_pipeline_commits_is_never_refused(
    board: Board, board_path: Path
) -> None:
    """Issue 12.15: the pipeline moves the branch under a person who commits by hand
    several times a second. No commit of theirs is refused for a stale checkout (their
    commit takes the pipeline's moves in), mc never holds the index against their git
    add, nothing the pipeline did is undone, and the history verifies. (A commit git
    itself refuses because the branch moved in the few milliseconds between its start
    and its hook is counted and made again; tests/bench/bench_person_commits.py reports
    how often.)"""
    from mc.board.store import Store

    from ..concurrent_person import run

    counts = run(board_path, person_commits=30, projects=8, pace=0.15)
    assert counts["refused"] == 0, counts["refusals"]
    assert counts["landed"] == counts["attempted"]
    assert counts["ref_races"] <= counts["attempted"] // 4, counts
    Store(board).finish_checkout()
    status = git(board_path, "status", "--porcelain").stdout
    assert status == "", status
    lanes = [
        f
        for f in git(board_path, "ls-tree", "-r", "--name-only", "HEAD", "review/").stdout.split()
        if f.endswith(".yaml")
    ]
    assert sorted(lanes) == sorted(f"review/p{i}.yaml" for i in range(8))
    assert all((board_path / "review" / f"p{i}.yaml").exists() for i in range(8))
    assert run_mc(board_path, "verify").returncode == 0, run_mc(board_path, "verify").stdout


def test_a_move_the_index_held_up_is_taken_into_the_persons_next_commit(
    board: Board, board_path: Path
) -> None:
    """Issue 12.15: while the person's git holds the index the pipeline's move is written
    down; the person's next commit takes it in (it is not refused, and it undoes
    nothing), and a partial commit, which cannot, is refused with what to run."""
    actions.new_project(board, "X", "coder", project_id="x")
    actions.queue(board, "x")
    lock = board_path / ".git" / "index.lock"
    lock.write_text("")  # a git of the person's holds the index
    actions.dispatch(board, "x", "1")
    pending = board_path / ".git" / "mc" / "pending-checkout"
    assert pending.exists()
    assert (board_path / "up-next" / "x.yaml").exists()  # the checkout is not touched
    lock.unlink()
    write(board_path / "notes.txt", "mine\n")
    git(board_path, "add", "notes.txt")
    partial = git(board_path, "commit", "-q", "-m", "partial", "notes.txt", check=False)
    assert partial.returncode != 0 and "mc checkout" in partial.stderr
    git(board_path, "commit", "-q", "-m", "my note")
    files = git(board_path, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()
    assert "in-progress/x.yaml" in files and "up-next/x.yaml" not in files
    assert "notes.txt" in files
    assert not pending.exists()
    assert (board_path / "in-progress" / "x.yaml").exists()
    assert git(board_path, "status", "--porcelain").stdout == ""
    assert run_mc(board_path, "verify").returncode == 0
