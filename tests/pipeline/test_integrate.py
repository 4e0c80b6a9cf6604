"""Approval carries exactly the reviewed commit into the workspace (mc.pipeline.integrate).

Real repositories and worktrees: the project's work is done in a real worktree of a
real workspace (as the worker does it: open_worktree, collect), the review recorded
by the pipeline's own commits, and the approval signed with alice's real key.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mc.board import actions, rules
from mc.board.board import Board
from mc.board.layout import Lane
from mc.board.rules import Actor, Change, Role, State
from mc.errors import (
    BaseMoved,
    BranchMoved,
    CheckoutDirty,
    GitError,
    InvalidInput,
    MergeConflict,
    SigningError,
)
from mc.pipeline import integrate
from mc.pipeline.workspace import Workspace, check_url, open_workspace
from mc.pipeline.worktree import open_worktree
from tests.conftest import coder_to_review as _work
from tests.conftest import coder_workspace as _workspace
from tests.conftest import git, head, run_mc, write


def _lane(board: Board, pid: str) -> Lane:
    board.refresh()
    return board.get(pid).lane


def _trailer(board_path: Path, name: str) -> str:
    return git(board_path, "log", "-1", f"--format=%(trailers:key={name},valueonly)").stdout.strip()


# ---------------------------------------------------------------------- merge modes


def test_fast_forward_into_the_checked_out_base_follows_the_checkout(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "ff", str(ws), {"b.py": "b = 2\n"})
    assert board.get("ff").project.run.head == reviewed  # type: ignore[union-attr]
    assert board.get("ff").project.run.base == "main"  # type: ignore[union-attr]
    found = integrate.check(board, "ff")
    assert (found.clean, found.base, found.head, found.reviewed_head) == (
        True, "main", reviewed, reviewed
    )  # fmt: skip
    result = integrate.approve(board, "ff")
    assert head(ws) == reviewed  # exactly the reviewed commit, fast-forwarded
    assert (ws / "b.py").read_text() == "b = 2\n"  # the person's checkout followed
    assert git(ws, "status", "--porcelain").stdout == ""
    assert _lane(board, "ff") is Lane.DONE
    assert _trailer(board_path, "Mc-Approved-Head") == reviewed
    assert "fast-forwarded main" in result.said
    # Cleanup: the merged branch is gone, no worktree is left.
    assert git(ws, "branch", "--list", "mc/ff").stdout == ""
    assert len(git(ws, "worktree", "list").stdout.splitlines()) == 1
    assert run_mc(board_path, "verify").returncode == 0


def test_a_commit_added_after_review_makes_approve_refuse(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "moved", str(ws), {"b.py": "b = 2\n"})
    # The agent (or anyone) moves the branch after the review.
    extra = tmp_path / "sneak"
    git(ws, "worktree", "add", "-q", str(extra), "mc/moved")
    write(extra / "evil.py", "import os\n")
    git(extra, "add", "-A")
    git(extra, "commit", "-q", "--no-gpg-sign", "-m", "after review")
    moved = head(extra)
    board_tip, main = board.tip, head(ws)
    assert integrate.check(board, "moved").head == moved
    with pytest.raises(BranchMoved, match="the review covered"):
        integrate.approve(board, "moved")
    board.refresh()
    assert (board.tip, head(ws), _lane(board, "moved")) == (board_tip, main, Lane.REVIEW)
    assert git(ws, "rev-parse", "mc/moved").stdout.strip() == moved != reviewed


def test_merge_commit_when_the_base_moved_since_the_branch_started(
    board: Board, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "mc-merge", str(ws), {"b.py": "b = 2\n"})
    write(ws / "c.py", "c = 3\n")
    git(ws, "add", "c.py")
    git(ws, "commit", "-q", "--no-gpg-sign", "-m", "the person's own work")
    before = head(ws)
    integrate.approve(board, "mc-merge")
    parents = git(ws, "log", "-1", "--format=%P").stdout.split()
    assert parents == [before, reviewed]
    assert (ws / "b.py").read_text() == "b = 2\n" and (ws / "c.py").exists()
    assert git(ws, "status", "--porcelain").stdout == ""
    assert git(ws, "branch", "--list", "mc/mc-merge").stdout == ""


def test_squash_is_one_commit_titled_as_the_project(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _work(board, tmp_path, "sq", str(ws), {"b.py": "b = 2\n", "a.py": "a = 10\n"}, "squash")
    before = head(ws)
    integrate.approve(board, "sq")
    assert git(ws, "log", "-1", "--format=%P").stdout.split() == [before]
    assert git(ws, "log", "-1", "--format=%s").stdout.strip() == "Change sq"
    assert git(ws, "show", "HEAD:a.py").stdout == "a = 10\n"
    # Squashed, so merged in content: the branch goes.
    assert git(ws, "branch", "--list", "mc/sq").stdout == ""


def test_none_approves_and_leaves_the_branch(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "no", str(ws), {"b.py": "b = 2\n"}, "none")
    before = head(ws)
    integrate.approve(board, "no")
    assert head(ws) == before and _lane(board, "no") is Lane.DONE
    assert git(ws, "rev-parse", "mc/no").stdout.strip() == reviewed


def test_base_not_checked_out_moves_by_ref_only(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "plumb", str(ws), {"b.py": "b = 2\n"})
    git(ws, "switch", "-q", "-c", "elsewhere")
    write(ws / "a.py", "a = 'my edit, not committed'\n")
    integrate.approve(board, "plumb")
    assert git(ws, "rev-parse", "main").stdout.strip() == reviewed
    assert git(ws, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/elsewhere"
    assert (ws / "a.py").read_text() == "a = 'my edit, not committed'\n"
    assert not (ws / "b.py").exists()


# ---------------------------------------------------------------------- refusals


def test_a_conflict_is_refused_and_rework_names_the_paths(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "clash", str(ws), {"a.py": "a = 'agent'\n"})
    write(ws / "a.py", "a = 'person'\n")
    git(ws, "commit", "-q", "--no-gpg-sign", "-am", "person edits a.py")
    main, board_tip = head(ws), board.tip
    found = integrate.check(board, "clash")
    assert (found.clean, found.conflicts) == (False, ("a.py",))
    assert found.command == "mc project rework clash --conflicts"
    with pytest.raises(MergeConflict) as caught:
        integrate.approve(board, "clash")
    assert caught.value.details["conflicts"] == ["a.py"]
    assert caught.value.http_status == 409
    failed = run_mc(board_path, "approve", "clash")
    assert failed.returncode == 1
    assert len(failed.stderr.strip().splitlines()) == 1
    assert "conflicts with main in a.py" in failed.stderr
    assert "mc project rework clash --conflicts" in failed.stderr
    board.refresh()
    assert (board.tip, head(ws), _lane(board, "clash")) == (board_tip, main, Lane.REVIEW)
    assert git(ws, "rev-parse", "mc/clash").stdout.strip() == reviewed
    assert (ws / "a.py").read_text() == "a = 'person'\n"
    sent = run_mc(board_path, "project", "rework", "clash", "--conflicts")
    assert sent.returncode == 0, sent.stderr
    board.refresh()
    entry = board.get("clash")
    assert entry.lane is Lane.UP_NEXT
    feedback = entry.project.get("feedback")  # type: ignore[union-attr]
    assert "resolve conflicts with main" in feedback and "- a.py" in feedback


def test_a_dirty_checkout_of_the_base_is_refused_and_untouched(
    board: Board, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    _work(board, tmp_path, "dirty", str(ws), {"b.py": "b = 2\n"})
    write(ws / "a.py", "a = 'half done'\n")
    main, board_tip = head(ws), board.tip
    snapshot = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and ".git" not in p.parts}
    index = (ws / ".git" / "index").read_bytes()
    with pytest.raises(CheckoutDirty, match=f"main is checked out in {ws} with uncommitted"):
        integrate.approve(board, "dirty")
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == snapshot and (ws / ".git" / "index").read_bytes() == index
    board.refresh()
    assert (board.tip, head(ws), _lane(board, "dirty")) == (board_tip, main, Lane.REVIEW)


def test_a_failed_approval_puts_the_base_back(
    board: Board, tmp_path: Path, keys: dict[str, object]
) -> None:
    """The signature fails after the merge (the private key is gone, the public one
    still names alice): the base goes back where it was, nothing is approved."""
    ws = _workspace(tmp_path)
    _work(board, tmp_path, "unsigned", str(ws), {"b.py": "b = 2\n"})
    git(ws, "switch", "-q", "-c", "other")  # main moves by ref (plumbing) ...
    main, board_tip = git(ws, "rev-parse", "main").stdout.strip(), board.tip
    public_only = tmp_path / "alice.pub"
    shutil.copy(keys["alice"].public, public_only)  # type: ignore[attr-defined]
    git(ws, "config", "--global", "user.signingkey", str(public_only))
    with pytest.raises(SigningError):
        integrate.approve(board, "unsigned")
    assert git(ws, "rev-parse", "main").stdout.strip() == main  # ... and back (CAS)
    board.refresh()
    assert (board.tip, _lane(board, "unsigned")) == (board_tip, Lane.REVIEW)


def test_the_base_moving_during_approval_is_refused(board: Board, tmp_path: Path) -> None:
    """A second writer: main moves between the check and the compare-and-swap."""
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "race", str(ws), {"b.py": "b = 2\n"})
    git(ws, "switch", "-q", "-c", "other")
    repo = open_workspace(str(ws)).repo
    old = repo.rev_parse("refs/heads/main")
    assert old is not None
    write(ws / "z.py", "z = 1\n")
    git(ws, "add", "z.py")
    git(ws, "commit", "-q", "--no-gpg-sign", "-m", "theirs")
    git(ws, "update-ref", "refs/heads/main", head(ws))  # someone else's commit on main
    theirs = head(ws)
    with pytest.raises(BaseMoved):
        integrate._move_base(Workspace(repo), "main", old, reviewed)
    assert git(ws, "rev-parse", "main").stdout.strip() == theirs


def test_the_audit_refuses_an_approval_naming_another_head() -> None:
    reviewed = State(
        Lane.REVIEW,
        {
            "title": "t",
            "archetype": "coder",
            "run": {"job": "1", "head": "a" * 40},
            "review": {"job": "2", "verdict": "pass"},
            "ready_for_human": True,
        },
    )
    after = State(Lane.DONE, {**reviewed.data, "approved": {"by": "alice", "at": "x"}})
    actor = Actor(Role.APPROVER, "alice")
    base = Change("p", reviewed, after, reviewed=reviewed)
    assert rules.check(actor, base._replace(approved_head="a" * 40))
    refused = rules.check(actor, base._replace(approved_head="b" * 40))
    assert not refused and "review covered" in refused.reason
    assert not rules.check(actor, base)  # no trailer at all


# ---------------------------------------------------------------------- pr, cleanup


def test_pr_pushes_the_branch_to_the_remote_and_prints_where(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(ws), str(remote))
    git(ws, "remote", "add", "origin", str(remote))
    reviewed = _work(board, tmp_path, "pr", str(ws), {"b.py": "b = 2\n"}, "pr")
    main = head(ws)
    env = {"PATH": str(Path(shutil.which("git") or "/usr/bin/git").parent)}  # no gh on it
    assert shutil.which("gh", path=env["PATH"]) is None
    done = run_mc(board_path, "approve", "pr", env=env)
    assert done.returncode == 0, done.stderr
    assert f"pushed mc/pr to {remote}" in done.stdout
    assert git(remote, "rev-parse", "mc/pr").stdout.strip() == reviewed
    assert git(remote, "rev-parse", "main").stdout.strip() == main  # a PR, not a merge
    assert head(ws) == main and git(ws, "rev-parse", "mc/pr").stdout.strip() == reviewed
    board.refresh()
    assert board.get("pr").lane is Lane.DONE


def test_compare_urls_for_hosted_remotes() -> None:
    assert (
        integrate.compare_url("git@github.com:me/app.git", "mc/x", "main")
        == "https://github.com/me/app/compare/main...mc/x?expand=1"
    )
    assert integrate.compare_url("https://gitlab.com/g/app.git", "mc/x", "dev") == (
        "https://gitlab.com/g/app/-/merge_requests/new?merge_request[source_branch]=mc/x"
        "&merge_request[target_branch]=dev"
    )
    assert integrate.compare_url("/srv/git/app.git", "mc/x", "main") is None


def test_cleanup_keeps_unmerged_work_and_deletes_merged_branches(tmp_path: Path) -> None:
    ws_path = _workspace(tmp_path)
    ws = Workspace(open_workspace(str(ws_path)).repo)
    main = head(ws_path)
    git(ws_path, "branch", "mc/merged", main)
    git(ws_path, "switch", "-q", "-c", "mc/unmerged")
    write(ws_path / "new.py", "x = 1\n")
    git(ws_path, "add", "new.py")
    git(ws_path, "commit", "-q", "--no-gpg-sign", "-m", "not in main")
    unmerged = head(ws_path)
    git(ws_path, "switch", "-q", "main")
    assert not integrate.cleanup_branch(ws, "mc/unmerged", unmerged, "refs/heads/main")
    assert git(ws_path, "rev-parse", "mc/unmerged").stdout.strip() == unmerged
    assert integrate.cleanup_branch(ws, "mc/merged", main, "refs/heads/main")
    assert git(ws_path, "branch", "--list", "mc/merged").stdout == ""


# ---------------------------------------------------------------------- remote workspaces


def test_a_workspace_by_url_is_cloned_pushed_back_and_integrated(
    board: Board, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    origin = _workspace(tmp_path)
    bare = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    url = f"file://{bare}"
    reviewed = _work(board, tmp_path, "far", url, {"b.py": "b = 2\n"})
    # The run happened in this machine's mirror; the branch went back to the URL.
    assert git(bare, "rev-parse", "mc/far").stdout.strip() == reviewed
    mirrors = list((tmp_path / "cache" / "mc" / "workspaces").iterdir())
    assert len(mirrors) == 1 and (mirrors[0] / "HEAD").is_file()
    assert integrate.check(board, "far").clean is True
    integrate.approve(board, "far")
    assert git(bare, "rev-parse", "main").stdout.strip() == reviewed
    assert git(bare, "branch", "--list", "mc/far").stdout == ""  # merged: deleted there too
    assert _lane(board, "far") is Lane.DONE


def test_a_bare_repository_path_is_a_remote_and_a_moved_base_refuses(
    board: Board, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    origin = _workspace(tmp_path)
    bare = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(bare))
    _work(board, tmp_path, "far2", str(bare), {"b.py": "b = 2\n"})
    # Someone pushes to main on the remote after mc's fetch for the check.
    ws = open_workspace(str(bare))
    found = integrate._check(
        ws, "far2", "merge", "main", git(bare, "rev-parse", "mc/far2").stdout.strip()
    )
    git(origin, "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "pushed meanwhile")
    git(origin, "push", "-q", str(bare), "main")
    theirs = git(bare, "rev-parse", "main").stdout.strip()
    old = ws.repo.rev_parse("refs/heads/main")
    assert old is not None and found.reviewed_head is not None
    with pytest.raises(BaseMoved, match="nothing changed"):
        integrate._move_base(ws, "main", old, found.reviewed_head)
    assert git(bare, "rev-parse", "main").stdout.strip() == theirs


@pytest.mark.parametrize(
    "url",
    [
        "--upload-pack=touch {pwned}",
        "ext::sh -c touch% {pwned}",
        "fd::17",
        "http://example.invalid/x.git",
    ],
)
def test_hostile_workspace_urls_are_refused_and_nothing_runs(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    pwned = tmp_path / "pwned"
    spec = url.format(pwned=pwned)
    with pytest.raises(InvalidInput, match="workspace"):
        open_worktree(spec, "p", tmp_path / "wt")
    with pytest.raises(InvalidInput):
        check_url(spec)
    assert not pwned.exists() and not (tmp_path / "wt").exists()


def test_git_itself_refuses_command_running_transports(tmp_path: Path) -> None:
    """The second layer: even a URL that got past check_url cannot run a command."""
    ws = open_workspace(str(_workspace(tmp_path)))
    pwned = tmp_path / "pwned"
    with pytest.raises(GitError):
        ws.repo.fetch_refs(f"ext::sh -c touch% {pwned}", ["refs/heads/*:refs/x/*"])
    assert not pwned.exists()
    assert os.path.isdir(ws.repo.git_dir)


def _hand_made_approval(board_path: Path, pid: str, approved_head: str) -> None:
    """An approval committed by hand (signed by alice, hooks skipped), naming
    ``approved_head`` — what a person who bypasses mc approve could push."""
    review_commit = git(board_path, "log", "-1", "--format=%H").stdout.strip()
    principal = git(board_path, "config", "user.email").stdout.strip()
    git(board_path, "mv", f"review/{pid}.yaml", f"done/{pid}.yaml")
    text = (board_path / "done" / f"{pid}.yaml").read_text()
    text += f"approved:\n  by: {principal}\n  at: 2026-12-06T10:00:00Z\n"
    (board_path / "done" / f"{pid}.yaml").write_text(text)
    git(board_path, "add", "-A")
    message = (
        f"Approve {pid}\n\nMc-Action: approve\nMc-Actor: human\n"
        f"Mc-Reviewed-Commit: {review_commit}\nMc-Review-Job: 2\n"
        f"Mc-Approved-Head: {approved_head}\n"
    )
    git(board_path, "commit", "-q", "-S", "--no-verify", "-m", message)


def test_verify_checks_the_approved_head_against_the_review(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "forged", str(ws), {"b.py": "b = 2\n"}, "none")
    _hand_made_approval(board_path, "forged", "f" * 40)
    refused = run_mc(board_path, "verify")
    assert refused.returncode != 0
    assert "review covered" in refused.stdout + refused.stderr
    git(board_path, "reset", "-q", "--hard", "HEAD~1")
    _hand_made_approval(board_path, "forged", reviewed)
    accepted = run_mc(board_path, "verify")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_an_untracked_file_in_the_way_is_refused_and_kept(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _work(board, tmp_path, "inway", str(ws), {"b.py": "b = 2\n"})
    write(ws / "b.py", "the person's own untracked b.py\n")
    main = head(ws)
    with pytest.raises(CheckoutDirty, match="git would not update it"):
        integrate.approve(board, "inway")
    assert (ws / "b.py").read_text() == "the person's own untracked b.py\n"
    assert head(ws) == main and _lane(board, "inway") is Lane.REVIEW


@pytest.mark.parametrize("base", ["--upload-pack=touch x", "-b", "a b", "x\ny"])
def test_a_base_branch_that_reads_as_an_option_is_not_a_valid_run_block(base: str) -> None:
    from mc.board.projectfile import load
    from mc.errors import InvalidProjectFile

    text = f"title: t\narchetype: coder\nrun:\n  job: 1\n  base: {base!r}\n"
    with pytest.raises(InvalidProjectFile, match="base"):
        load(text.replace("'", '"'), "review/p.yaml")


def test_pr_opens_the_pull_request_with_gh_when_it_is_logged_in(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    """gh itself is not on this machine: a stand-in ``gh`` on PATH (logged in, records
    its argv, prints a pull request URL) checks the contract mc calls it with."""
    ws = _workspace(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(ws), str(remote))
    git(ws, "remote", "add", "origin", str(remote))
    reviewed = _work(board, tmp_path, "ghpr", str(ws), {"b.py": "b = 2\n"}, "pr")
    bin_dir, calls = tmp_path / "bin", tmp_path / "gh-calls"
    write(
        bin_dir / "gh",
        f"#!{shutil.which('python3')}\nimport json, os, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps([os.getcwd(), *sys.argv[1:]]) + '\\n')\n"
        "if sys.argv[1:3] == ['pr', 'create']: print('https://github.com/me/code/pull/7')\n",
    ).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = run_mc(board_path, "approve", "ghpr", env=env)
    assert done.returncode == 0, done.stderr
    assert "opened https://github.com/me/code/pull/7" in done.stdout
    import json

    made = [json.loads(line) for line in calls.read_text().splitlines()]
    assert made[0][1:] == ["auth", "status"]
    cwd, *argv = made[1]
    assert cwd == str(ws) and argv[:4] == ["pr", "create", "--head", "mc/ghpr"]
    assert argv[argv.index("--base") + 1] == "main"
    assert argv[argv.index("--title") + 1] == "Change ghpr"
    assert git(remote, "rev-parse", "mc/ghpr").stdout.strip() == reviewed


def test_mirrors_survive_a_killed_clone_and_concurrent_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from mc.pipeline.workspace import mirror_path, url_of

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bare = tmp_path / "shared.git"
    git(tmp_path, "clone", "-q", "--bare", str(_workspace(tmp_path)), str(bare))
    target = mirror_path(url_of(str(bare)))
    write(target / "objects" / "half-written", "a clone killed before HEAD was written")
    opened: list[str] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            ws = open_workspace(str(bare))
            opened.append(ws.repo.rev_parse("refs/heads/main") or "")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert opened == [git(bare, "rev-parse", "main").stdout.strip()] * 4
    assert not (target / "objects" / "half-written").exists()


def test_approve_after_an_approve_killed_between_merge_and_commit(
    board: Board, tmp_path: Path
) -> None:
    """The merge landed but the approval commit did not (the process was killed in
    between): approving again records the approval without merging a second time."""
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "again", str(ws), {"b.py": "b = 2\n"})
    write(ws / "c.py", "c = 3\n")
    git(ws, "add", "c.py")
    git(ws, "commit", "-q", "--no-gpg-sign", "-m", "person")
    repo = open_workspace(str(ws)).repo
    found = integrate._check(Workspace(repo), "again", "merge", "main", reviewed)
    old = repo.rev_parse("refs/heads/main")
    assert old is not None
    new = integrate._new_base(repo, old, reviewed, "merge", "again", "Change again")
    integrate._move_base(Workspace(repo), "main", old, new)  # ... and then the kill
    assert found.clean and head(ws) == new
    result = integrate.approve(board, "again")
    assert head(ws) == new  # no second merge commit
    assert "already has mc/again" in result.said
    assert _lane(board, "again") is Lane.DONE


def test_a_killed_mc_approve_loses_nothing_and_approving_again_finishes(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    """mc approve is SIGKILLed while signing (after the merge): the board has no
    approval, the base holds the merge, the person's checkout is consistent; the next
    mc approve records the approval and merges nothing twice."""
    import signal
    import subprocess
    import sys
    import time

    ws = _workspace(tmp_path)
    _work(board, tmp_path, "killed", str(ws), {"b.py": "b = 2\n"})
    write(ws / "c.py", "c = 3\n")
    git(ws, "add", "c.py")
    git(ws, "commit", "-q", "--no-gpg-sign", "-m", "person")
    board_tip = board.tip
    marker = tmp_path / "signing"
    slow = write(
        tmp_path / "slow-sign",
        f"#!/bin/sh\ntouch {marker}\nsleep 60\n",
    )
    slow.chmod(0o755)
    git(board_path, "config", "gpg.ssh.program", str(slow))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mc", "approve", "killed"],
        cwd=board_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    merged = head(ws)
    board.refresh()
    assert (board.tip, board.get("killed").lane) == (board_tip, Lane.REVIEW)
    assert len(git(ws, "log", "-1", "--format=%P").stdout.split()) == 2  # the merge landed
    assert git(ws, "status", "--porcelain").stdout == ""  # the checkout followed it whole
    git(board_path, "config", "--unset", "gpg.ssh.program")
    again = run_mc(board_path, "approve", "killed")
    assert again.returncode == 0, again.stderr
    assert head(ws) == merged and _lane(board, "killed") is Lane.DONE
    assert run_mc(board_path, "verify").returncode == 0


def test_a_base_branch_gone_since_the_run_is_refused(board: Board, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _work(board, tmp_path, "nobase", str(ws), {"b.py": "b = 2\n"})
    git(ws, "branch", "-m", "main", "trunk")  # the person renamed it
    board_tip = board.tip
    with pytest.raises(InvalidInput, match="no base branch"):
        integrate.approve(board, "nobase")
    board.refresh()
    assert board.tip == board_tip and _lane(board, "nobase") is Lane.REVIEW


def test_integrate_cleanup_false_keeps_the_merged_branch(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    text = (board_path / "mc.yaml").read_text()
    assert "coder:      {runner:" in text
    (board_path / "mc.yaml").write_text(
        text.replace(
            "coder:      {runner:", "coder: {integrate: squash, integrate_cleanup: false, runner:"
        )
    )
    git(board_path, "commit", "-q", "-S", "-am", "keep merged branches, squash")
    board.refresh()
    assert board.config.archetype("coder").integrate == "squash"
    ws = _workspace(tmp_path)
    reviewed = _work(board, tmp_path, "keepit", str(ws), {"b.py": "b = 2\n"})
    before = head(ws)
    integrate.approve(board, "keepit")
    assert git(ws, "log", "-1", "--format=%P").stdout.split() == [before]  # squashed
    assert git(ws, "rev-parse", "mc/keepit").stdout.strip() == reviewed


def test_the_rework_run_resolves_the_conflicts_and_then_approve_merges(
    board: Board, board_path: Path, tmp_path: Path
) -> None:
    """After mc project rework --conflicts, the next run's worktree has the base merged
    in with the conflicts marked; what the agent leaves is the merge commit, and the
    approval then fast-forwards the base to it."""
    from mc.pipeline.worktree import close_worktree, collect

    ws = _workspace(tmp_path)
    first = _work(board, tmp_path, "fixme", str(ws), {"a.py": "a = 'agent'\n"})
    write(ws / "a.py", "a = 'person'\n")
    git(ws, "commit", "-q", "--no-gpg-sign", "-am", "person edits a.py")
    main = head(ws)
    integrate.rework_conflicts(board, "fixme")
    actions.dispatch(board, "fixme", "3")
    tree = open_worktree(str(ws), "fixme", tmp_path / "job-3")
    try:
        marked = (tree.path / "a.py").read_text()
        assert "<<<<<<<" in marked and "agent" in marked and "person" in marked
        write(tree.path / "a.py", "a = 'person and agent'\n")  # the agent resolves them
        got = collect(tree, 3)
    finally:
        close_worktree(tree)
    assert git(ws, "log", "-1", "--format=%P", got.head).stdout.split() == [first, main]
    assert "a = 'person and agent'" in got.artifacts["changes.patch"].decode()
    actions.complete(board, "fixme", "3", got.artifacts, change={"head": got.head, "base": "main"})
    actions.record_review(board, "fixme", "4", "pass", "resolved", rework=False)
    assert integrate.check(board, "fixme").clean is True
    integrate.approve(board, "fixme")
    assert head(ws) == got.head and (ws / "a.py").read_text() == "a = 'person and agent'\n"


def test_pr_to_a_remote_url_that_reads_as_an_option_is_refused(
    board: Board, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    pwned = tmp_path / "pwned"
    git(ws, "config", "remote.origin.url", f"--upload-pack=touch {pwned}")
    _work(board, tmp_path, "optpr", str(ws), {"b.py": "b = 2\n"}, "pr")
    board_tip = board.tip
    with pytest.raises(InvalidInput, match="may not start with '-'"):
        integrate.approve(board, "optpr")
    board.refresh()
    assert board.tip == board_tip and not pwned.exists()
