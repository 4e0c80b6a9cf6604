"""The `mc` command line, run for real (DESIGN §6).

Every test runs the CLI in a subprocess (`python -m mc`, or the `missionctl` console
script) and checks what it did to the board: the commits (with their trailers and
signatures), the files in the tip's tree and in the checkout, and the `--json` output
parsed, not only the words it printed. Every refusal is one line on stderr that starts
with `mc: `, a non-zero exit, no traceback, and no commit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mc.board import actions
from mc.board.board import Board

from ..conftest import Key, git, head, run_mc, to_review, write

SOURCE = Path(__file__).resolve().parents[2]
LANE_NAMES = ("backlog", "up-next", "in-progress", "review", "done")
MISSIONCTL = Path(sys.executable).parent / "missionctl"
MC = Path(sys.executable).parent / "mc"


# ---------------------------------------------------------------------- helpers


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    """The command succeeded quietly on stderr; its stdout."""
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def fails(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A refusal: non-zero exit, exactly one `mc: ` line on stderr naming each needle."""
    assert proc.returncode != 0, f"command succeeded:\n{proc.stdout}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("mc: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc))


def mc(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_mc(cwd, *args, env=env)


def count_commits(path: Path, rev: str = "HEAD") -> int:
    return int(git(path, "rev-list", "--count", rev).stdout)


def trailers(path: Path, rev: str = "HEAD") -> dict[str, str]:
    out = git(path, "log", "-1", "--format=%(trailers:only,unfold)", rev).stdout
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def signature(path: Path, rev: str = "HEAD") -> tuple[str, str]:
    """(status, signer) as git's own verification sees them (%G?, %GS)."""
    status, _, signer = (
        git(path, "log", "-1", "--format=%G? %GS", rev).stdout.strip().partition(" ")
    )
    return status, signer


def tree(path: Path, rev: str = "HEAD") -> set[str]:
    return set(git(path, "ls-tree", "-r", "--name-only", rev).stdout.split())


def committed_yaml(path: Path, file: str, rev: str = "HEAD") -> Any:
    return yaml.safe_load(git(path, "show", f"{rev}:{file}").stdout)


def clean(path: Path) -> bool:
    return git(path, "status", "--porcelain").stdout == ""


def unchanged(path: Path, before: str) -> None:
    """Nothing was committed and the checkout is as clean as it was."""
    assert head(path) == before
    assert clean(path)


def sneak(path: Path, files: dict[str, str], message: str = "by hand") -> str:
    """Commit files with the client hooks skipped (--no-verify); the commit's sha."""
    for name, text in files.items():
        write(path / name, text)
        git(path, "add", name)
    git(path, "commit", "-q", "--no-verify", "-m", message)
    return head(path)


def new(path: Path, title: str, *args: str) -> str:
    """`mc project new TITLE -a coder ARGS --json`; the new project's id."""
    data = as_json(mc(path, "project", "new", title, "--archetype", "coder", *args, "--json"))
    return str(data["id"])


def lane_of(path: Path, pid: str) -> str | None:
    lanes = [lane for lane in LANE_NAMES if f"{lane}/{pid}.yaml" in tree(path)]
    assert len(lanes) <= 1, lanes
    return lanes[0] if lanes else None


def signer_principals(text: str) -> dict[str, str]:
    """principal -> key ("<type> <base64>") of an allowed-signers file."""
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            key_at = next(i for i, p in enumerate(parts) if p.startswith(("ssh-", "ecdsa-")))
            out[parts[0]] = f"{parts[key_at]} {parts[key_at + 1]}"
    return out


def public_key(key: Key) -> str:
    return " ".join(key.public_text.split()[:2])


def assert_hooks_installed(repo: Path) -> None:
    for name in ("pre-commit", "commit-msg"):
        hook = repo / ".git" / "hooks" / name
        text = hook.read_text()
        assert "# installed by mc hooks install" in text
        assert text.startswith(f"#!{sys.executable}")
        assert hook.stat().st_mode & stat.S_IXUSR


def assert_hook_refuses_bad_file(repo: Path) -> None:
    """The installed pre-commit hook runs and refuses an invalid project file."""
    before = head(repo)
    write(repo / "backlog" / "bad.yaml", "title: [unclosed\n")
    git(repo, "add", "backlog/bad.yaml")
    proc = git(repo, "commit", "-q", "-m", "bad", check=False)
    assert proc.returncode != 0
    assert "backlog/bad.yaml" in proc.stderr
    assert head(repo) == before
    git(repo, "rm", "-q", "--cached", "backlog/bad.yaml")
    (repo / "backlog" / "bad.yaml").unlink()


# ---------------------------------------------------------------------- mc init


def test_init_makes_a_new_board(tmp_path: Path, keys: dict[str, Key]) -> None:
    out = ok(mc(tmp_path, "init", "fresh"))
    root = tmp_path / "fresh"
    assert str(root) in out
    assert "alice@example.com" in out

    # One commit, signed, verified by git against the board's allowed signers.
    assert count_commits(root) == 1
    assert git(root, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    status, signer = signature(root)
    assert status == "G"
    assert signer in ("mc-service", "alice@example.com")
    assert trailers(root)["Mc-Action"] == "init"

    files = tree(root)
    for lane in LANE_NAMES:
        assert (root / lane).is_dir()
        assert f"{lane}/.gitkeep" in files
    shipped = {p.name for p in (SOURCE / "board" / "templates").glob("*.yaml")}
    assert shipped
    assert {f"templates/{name}" for name in shipped} <= files
    for name in shipped:
        assert (root / "templates" / name).read_bytes() == (
            SOURCE / "board" / "templates" / name
        ).read_bytes()
    assert "mc.yaml" in files
    assert committed_yaml(root, "mc.yaml")["branch"] == "main"

    # Allowed signers: the service key and alice's signing key.
    assert ".mc/allowed_signers" in files
    principals = signer_principals(git(root, "show", "HEAD:.mc/allowed_signers").stdout)
    assert set(principals) == {"mc-service", "alice@example.com"}
    assert principals["alice@example.com"] == public_key(keys["alice"])
    service_pub = (root / ".mc" / "service_key.pub").read_text().split()
    assert principals["mc-service"] == " ".join(service_pub[:2])

    # The service key's private half stays on this machine: ignored, never committed.
    key = root / ".mc" / "service_key"
    assert key.is_file()
    assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0
    assert not any(f.startswith(".mc/service_key") for f in files)
    assert git(root, "check-ignore", "-q", ".mc/service_key", check=False).returncode == 0
    assert clean(root)

    assert_hooks_installed(root)
    assert_hook_refuses_bad_file(root)
    assert ok(mc(root, "verify")).strip().endswith("1 commits checked, 0 violations")


def test_init_without_hooks(tmp_path: Path) -> None:
    ok(mc(tmp_path, "init", "quiet", "--no-hooks"))
    assert not (tmp_path / "quiet" / ".git" / "hooks" / "pre-commit").exists()
    assert count_commits(tmp_path / "quiet") == 1


def test_init_in_an_existing_repository_with_a_commit(tmp_path: Path) -> None:
    repo = tmp_path / "existing"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    write(repo / "README.md", "my notes\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "first")
    first = head(repo)

    ok(mc(repo, "init", str(repo)))
    assert count_commits(repo) == 2
    assert git(repo, "rev-parse", "HEAD^").stdout.strip() == first
    files = tree(repo)
    assert {"README.md", "mc.yaml", ".mc/allowed_signers", "backlog/.gitkeep"} <= files
    assert (repo / "mc.yaml").is_file()
    assert trailers(repo)["Mc-Action"] == "init"
    assert signature(repo)[0] == "G"
    assert clean(repo)
    assert_hooks_installed(repo)
    # And it is a working board.
    pid = new(repo, "First project")
    assert lane_of(repo, pid) == "backlog"


def test_init_on_a_master_branch_records_the_branch(tmp_path: Path) -> None:
    repo = tmp_path / "legacy"
    git(tmp_path, "init", "-q", "-b", "master", str(repo))

    ok(mc(tmp_path, "init", "legacy"))
    # The first commit is on master, the checkout has it, and mc.yaml names the branch.
    assert git(repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/master"
    branches = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads").stdout.split()
    assert branches == ["refs/heads/master"], f"the init commit went to {branches}"
    assert count_commits(repo, "refs/heads/master") == 1
    assert committed_yaml(repo, "mc.yaml", "master")["branch"] == "master"
    assert yaml.safe_load((repo / "mc.yaml").read_text())["branch"] == "master"
    assert clean(repo)

    pid = new(repo, "On master")
    assert count_commits(repo, "refs/heads/master") == 2
    assert f"backlog/{pid}.yaml" in tree(repo, "master")


@pytest.mark.parametrize("sub", ["backlog", "notes/deeper"])
def test_init_refuses_a_folder_inside_a_repository(board_path: Path, sub: str) -> None:
    before = head(board_path)
    fails(mc(board_path, "init", str(board_path / sub)), "inside the repository")
    unchanged(board_path, before)
    assert not (board_path / sub / "mc.yaml").exists()


def test_init_refuses_an_existing_board(board_path: Path) -> None:
    before = head(board_path)
    signers = (board_path / ".mc" / "allowed_signers").read_bytes()
    service = (board_path / ".mc" / "service_key").read_bytes()
    fails(mc(board_path.parent, "init", str(board_path)), "already has a board")
    unchanged(board_path, before)
    assert (board_path / ".mc" / "allowed_signers").read_bytes() == signers
    assert (board_path / ".mc" / "service_key").read_bytes() == service


def test_init_refused_by_a_conflicting_file_leaves_no_loose_service_key(tmp_path: Path) -> None:
    repo = tmp_path / "mine"
    write(repo / "templates" / "coder.yaml", "# my own file\n")
    fails(mc(tmp_path, "init", "mine"), "templates/coder.yaml")
    assert (repo / "templates" / "coder.yaml").read_text() == "# my own file\n"
    assert not (repo / "mc.yaml").exists()
    # The private key must not sit there un-ignored, one `git add -A` from being committed.
    if (repo / ".git").exists():
        untracked = git(repo, "status", "--porcelain", "--untracked-files=all").stdout
        assert ".mc/service_key" not in untracked
    else:
        assert not (repo / ".mc" / "service_key").exists()


def test_init_on_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    write(tmp_path / "afile", "not a folder\n")
    fails(mc(tmp_path, "init", "afile"), "afile")


# ---------------------------------------------------------------------- mc project new


def test_new_project_id_from_title(board_path: Path) -> None:
    before = head(board_path)
    out = ok(mc(board_path, "project", "new", "Build a CLI Tool!", "--archetype", "coder"))
    assert "build-a-cli-tool" in out
    assert count_commits(board_path) == count_commits(board_path, before) + 1
    assert git(board_path, "rev-parse", "HEAD^").stdout.strip() == before
    assert tree(board_path) - tree(board_path, before) == {"backlog/build-a-cli-tool.yaml"}
    data = committed_yaml(board_path, "backlog/build-a-cli-tool.yaml")
    assert data["title"] == "Build a CLI Tool!"
    assert data["archetype"] == "coder"
    assert trailers(board_path) == {
        "Mc-Action": "create",
        "Mc-Actor": "human",
        "Mc-Project": "build-a-cli-tool",
    }
    assert clean(board_path)
    assert (board_path / "backlog" / "build-a-cli-tool.yaml").is_file()

    # The same title again gets a free id.
    assert new(board_path, "Build a CLI tool") == "build-a-cli-tool-2"


def test_new_project_with_every_option(board_path: Path) -> None:
    data = as_json(
        mc(
            board_path,
            "project",
            "new",
            "Survey the field",
            "--archetype",
            "researcher",
            "--id",
            "survey",
            "--template",
            "writer",
            "--description",
            "Read everything.\nWrite it down.",
            "--due",
            "2026-12-01",
            "--priority",
            "1",
            "--queue",
            "--json",
        )
    )
    assert data["id"] == "survey"
    assert data["lane"] == "up-next"
    assert data["valid"] is True
    assert data["title"] == "Survey the field"
    assert data["archetype"] == "researcher"
    assert data["priority"] == 1
    assert data["due"] == "2026-12-01"
    assert data["description"] == "Read everything.\nWrite it down."

    committed = committed_yaml(board_path, "up-next/survey.yaml")
    assert committed["due"] == dt.date(2026, 12, 1)
    assert committed["priority"] == 1
    assert committed["description"] == "Read everything.\nWrite it down."
    # The writer template's own fields came along.
    writer = yaml.safe_load((SOURCE / "board" / "templates" / "writer.yaml").read_text())
    assert committed["labels"] == writer["labels"] == data["labels"]
    assert committed["acceptance"] == writer["acceptance"]
    assert lane_of(board_path, "survey") == "up-next"
    assert trailers(board_path)["Mc-Project"] == "survey"
    assert clean(board_path)


def test_new_project_with_the_person_owned_fields(board_path: Path) -> None:
    args = ["project", "new", "Fast CLI", "-a", "coder", "--model", "opus", "--owner", "bo",
            "-l", "cli", "-l", "fast", "--accept", "It runs", "--accept", "It is fast",
            "--workspace", "/src/tool", "--json"]  # fmt: skip
    data = as_json(mc(board_path, *args))
    committed = committed_yaml(board_path, "backlog/fast-cli.yaml")
    assert committed["model"] == data["model"] == "opus"
    assert committed["owner"] == "bo" and committed["workspace"] == "/src/tool"
    assert committed["labels"] == ["cli", "fast"]
    assert committed["acceptance"] == ["It runs", "It is fast"]
    fails(mc(board_path, "project", "new", "X", "-a", "coder", "-l", "a,b"), "labels")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--archetype", "wizard"], ["--archetype", "wizard", "coder"]),
        (["--archetype", "reviewer"], ["--archetype", "reviewer"]),
        (["--archetype", "coder", "--id", "Bad_Id"], ["--id", "Bad_Id"]),
        (["--archetype", "coder", "--id", "-dash"], ["--id"]),
        (["--archetype", "coder", "--due", "someday"], ["due"]),
        (["--archetype", "coder", "--due", "2026-02-30"], ["due"]),
        (["--archetype", "coder", "--priority", "9"], ["priority"]),
        (["--archetype", "coder", "--template", "nope"], ["--template", "nope"]),
    ],
)
def test_new_project_refuses_bad_input(
    board_path: Path, args: list[str], needles: list[str]
) -> None:
    before = head(board_path)
    fails(mc(board_path, "project", "new", "Some work", *args), *needles)
    unchanged(board_path, before)
    assert not [p for lane in LANE_NAMES for p in (board_path / lane).glob("*.yaml")]


def test_new_project_refuses_a_taken_id(board_path: Path) -> None:
    new(board_path, "First", "--id", "taken")
    before = head(board_path)
    fails(
        mc(board_path, "project", "new", "Second", "-a", "coder", "--id", "taken"),
        "taken",
        "exists",
    )
    unchanged(board_path, before)
    assert committed_yaml(board_path, "backlog/taken.yaml")["title"] == "First"


# ---------------------------------------------------------------------- list, show, board


def test_project_list(board_path: Path) -> None:
    assert "No projects" in ok(mc(board_path, "project", "list"))
    assert as_json(mc(board_path, "project", "list", "--json")) == []

    new(board_path, "Later", "--id", "later", "--priority", "2")
    new(board_path, "Soon", "--id", "soon", "--queue")
    rows = as_json(mc(board_path, "project", "list", "--json"))
    assert [(r["id"], r["lane"], r["valid"]) for r in rows] == [
        ("later", "backlog", True),
        ("soon", "up-next", True),
    ]
    assert rows[0]["priority"] == 2
    assert rows[0]["path"] == "backlog/later.yaml"

    only = as_json(mc(board_path, "project", "list", "--lane", "up-next", "--json"))
    assert [r["id"] for r in only] == ["soon"]
    assert as_json(mc(board_path, "project", "list", "--lane", "done", "--json")) == []

    text = ok(mc(board_path, "project", "list"))
    assert "later" in text and "soon" in text and "Soon" in text
    assert "later" not in ok(mc(board_path, "project", "list", "--lane", "up-next"))

    fails(mc(board_path, "project", "list", "--lane", "someday"), "--lane", "someday")


def test_invalid_files_are_listed_not_crashed_on(board_path: Path) -> None:
    new(board_path, "Fine", "--id", "fine")
    sneak(
        board_path,
        {
            "backlog/broken.yaml": "title: [unclosed\n",
            "backlog/typo.yaml": "title: T\narchetype: coder\npriorty: 2\n",
        },
    )
    rows = {r["id"]: r for r in as_json(mc(board_path, "project", "list", "--json"))}
    assert set(rows) == {"fine", "broken", "typo"}
    assert rows["fine"]["valid"] is True
    for pid in ("broken", "typo"):
        assert rows[pid]["valid"] is False
        assert rows[pid]["lane"] == "backlog"
        assert rows[pid]["error"].startswith(f"backlog/{pid}.yaml:")
    assert "priorty" in rows["typo"]["error"]
    assert "typo.yaml:3:" in rows["typo"]["error"]

    text = ok(mc(board_path, "project", "list"))
    assert "INVALID" in text and "priorty" in text

    shown = as_json(mc(board_path, "project", "show", "broken", "--json"))
    assert shown["valid"] is False and shown["error"] == rows["broken"]["error"]
    assert "INVALID" in ok(mc(board_path, "project", "show", "typo"))

    lanes = as_json(mc(board_path, "board", "--json"))
    assert {r["id"]: r["valid"] for r in lanes["backlog"]} == {
        "fine": True,
        "broken": False,
        "typo": False,
    }
    assert "Fine" in ok(mc(board_path, "board"))


def test_project_show(board_path: Path) -> None:
    new(board_path, "Show me", "--id", "shown", "--due", "2026-12-01", "--description", "Brief.")
    data = as_json(mc(board_path, "project", "show", "shown", "--json"))
    committed = committed_yaml(board_path, "backlog/shown.yaml")
    assert data["id"] == "shown"
    assert data["lane"] == "backlog"
    assert data["valid"] is True
    for key, value in committed.items():
        assert data[key] == (value.isoformat() if isinstance(value, dt.date) else value)

    text = ok(mc(board_path, "project", "show", "shown"))
    assert "shown" in text and "[backlog]" in text and "Show me" in text
    assert "2026-12-01" in text and "Brief." in text

    fails(mc(board_path, "project", "show", "ghost"), "ghost")
    fails(mc(board_path, "project", "show", "Not_An_Id"), "Not_An_Id")


def test_board_text_and_json(board: Board, board_path: Path) -> None:
    to_review(board, "reviewed", title="Reviewed work")
    new(board_path, "Parked", "--id", "parked")
    new(board_path, "Next up", "--id", "next", "--queue")

    lanes = as_json(mc(board_path, "board", "--json"))
    assert list(lanes) == list(LANE_NAMES)
    assert {lane: [r["id"] for r in rows] for lane, rows in lanes.items()} == {
        "backlog": ["parked"],
        "up-next": ["next"],
        "in-progress": [],
        "review": ["reviewed"],
        "done": [],
    }
    reviewed = lanes["review"][0]
    assert reviewed["ready_for_human"] is True
    assert reviewed["review"]["verdict"] == "pass"

    text = ok(mc(board_path, "board"))
    for heading in ("Backlog (1)", "Up next (1)", "In progress (0", "Review (1", "Done (0)"):
        assert heading in text
    assert "Parked" in text and "Next up" in text and "Reviewed work" in text


# ---------------------------------------------------------------------- mc project edit


def test_edit_converts_each_type(board_path: Path) -> None:
    pid = new(board_path, "Edit me", "--id", "e")
    before = head(board_path)
    ok(
        mc(
            board_path,
            "project",
            "edit",
            pid,
            "--set",
            "priority=2",
            "--set",
            "labels=a, b",
            "--set",
            "due=2026-12-01",
            "--set",
            "owner=bob",
            "--set",
            "x-cost=12",
        )
    )
    assert count_commits(board_path) == count_commits(board_path, before) + 1
    assert trailers(board_path)["Mc-Action"] == "edit"
    assert trailers(board_path)["Mc-Project"] == "e"
    data = committed_yaml(board_path, "backlog/e.yaml")
    assert data["priority"] == 2
    assert data["labels"] == ["a", "b"]
    assert data["due"] == dt.date(2026, 12, 1)
    assert data["owner"] == "bob"
    assert data["x-cost"] == 12
    assert data["title"] == "Edit me"
    assert clean(board_path)

    ok(mc(board_path, "project", "edit", pid, "--set", "labels=[x, y z]", "--set", "owner="))
    data = committed_yaml(board_path, "backlog/e.yaml")
    assert data["labels"] == ["x", "y z"]
    assert "owner" not in data
    assert data["priority"] == 2

    shown = as_json(mc(board_path, "project", "show", pid, "--json"))
    assert shown["labels"] == ["x", "y z"]
    assert shown["due"] == "2026-12-01"
    assert "owner" not in shown


@pytest.mark.parametrize(
    ("setting", "needles"),
    [
        ("ready_for_human=true", ["ready_for_human", "pipeline"]),
        ("run=x", ["run", "pipeline"]),
        ("review=x", ["review", "pipeline"]),
        ("needs_human=x", ["needs_human", "pipeline"]),
        ("approved=x", ["approved", "pipeline"]),
        ("colour=red", ["colour", "unknown key"]),
        ("priority=high", ["priority"]),
        ("priority=7", ["priority"]),
        ("due=next week", ["due"]),
        ("archetype=wizard", ["archetype", "wizard"]),
        ("title=", ["title"]),
        ("no-equals-sign", ["no-equals-sign", "key=value"]),
    ],
)
def test_edit_refuses(board: Board, board_path: Path, setting: str, needles: list[str]) -> None:
    pid = "e"
    actions.new_project(board, "Edit me", "coder", project_id=pid)
    before = head(board_path)
    text = (board_path / "backlog" / "e.yaml").read_text()
    fails(mc(board_path, "project", "edit", pid, "--set", setting), *needles)
    unchanged(board_path, before)
    assert (board_path / "backlog" / "e.yaml").read_text() == text


def test_edit_without_changes_and_of_a_missing_project(board: Board, board_path: Path) -> None:
    actions.new_project(board, "Edit me", "coder", project_id="e")
    before = head(board_path)
    fails(mc(board_path, "project", "edit", "e"), "--set")
    fails(mc(board_path, "project", "edit", "ghost", "--set", "priority=1"), "ghost")
    unchanged(board_path, before)


@pytest.mark.parametrize("content", ["title: [unclosed\n", "title: caf\xe9\narchetype: coder\n"])
def test_edit_of_an_invalid_file_is_a_one_line_error(board_path: Path, content: str) -> None:
    path = board_path / "backlog" / "broken.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content.encode("latin-1"))
    git(board_path, "add", "backlog/broken.yaml")
    git(board_path, "commit", "-q", "--no-verify", "-m", "broken")
    before = head(board_path)
    fails(mc(board_path, "project", "edit", "broken", "--set", "priority=1"), "broken.yaml")
    unchanged(board_path, before)


# ---------------------------------------------------------------------- queue, move, cancel, delete


def test_queue_move_cancel_delete(board_path: Path) -> None:
    pid = new(board_path, "Moving", "--id", "m")

    ok(mc(board_path, "project", "queue", pid))
    assert lane_of(board_path, pid) == "up-next"
    assert trailers(board_path)["Mc-Action"] == "queue"
    assert (board_path / "up-next" / "m.yaml").is_file()
    assert not (board_path / "backlog" / "m.yaml").exists()
    assert clean(board_path)

    before = head(board_path)
    fails(mc(board_path, "project", "queue", pid), "already in up-next")
    fails(mc(board_path, "project", "move", pid, "done"), "done", "mc approve")
    fails(mc(board_path, "project", "move", pid, "in-progress"), "in-progress")
    fails(mc(board_path, "project", "move", pid, "review"), "review")
    fails(mc(board_path, "project", "move", pid, "elsewhere"), "LANE", "elsewhere")
    unchanged(board_path, before)

    ok(mc(board_path, "project", "move", pid, "backlog"))
    assert lane_of(board_path, pid) == "backlog"
    ok(mc(board_path, "project", "move", pid, "up-next"))
    assert lane_of(board_path, pid) == "up-next"
    assert trailers(board_path)["Mc-Action"] == "queue"

    ok(mc(board_path, "project", "cancel", pid))
    assert lane_of(board_path, pid) == "backlog"
    assert trailers(board_path)["Mc-Action"] == "cancel"
    fails(mc(board_path, "project", "cancel", pid), "already in backlog")

    ok(mc(board_path, "project", "delete", pid))
    assert lane_of(board_path, pid) is None
    assert trailers(board_path)["Mc-Action"] == "delete"
    assert not (board_path / "backlog" / "m.yaml").exists()
    assert clean(board_path)
    before = head(board_path)
    fails(mc(board_path, "project", "delete", pid), "no project", pid)
    fails(mc(board_path, "project", "queue", pid), pid)
    unchanged(board_path, before)


def test_rework_and_cancel_from_review(board: Board, board_path: Path) -> None:
    to_review(board, "back")
    to_review(board, "park")
    ok(mc(board_path, "project", "move", "back", "up-next"))
    assert lane_of(board_path, "back") == "up-next"
    assert trailers(board_path)["Mc-Action"] == "rework"
    ok(mc(board_path, "project", "cancel", "park"))
    assert lane_of(board_path, "park") == "backlog"
    assert clean(board_path)


def test_rework_with_notes_goes_into_the_brief_and_the_log_tells_the_story(
    board: Board, board_path: Path
) -> None:
    to_review(board, "redo")
    ok(mc(board_path, "project", "rework", "redo", "--notes", "Cite sources.\nShorter."))
    assert lane_of(board_path, "redo") == "up-next"
    assert trailers(board_path)["Mc-Action"] == "rework"
    assert (
        "feedback: |-\n  Cite sources.\n  Shorter."
        in (board_path / "up-next/redo.yaml").read_text()
    )
    fails(mc(board_path, "project", "rework", "redo"), "redo is in up-next", "review")
    printed = ok(mc(board_path, "project", "log", "redo", "--json"))
    actions_seen = [e["action"] for e in json.loads(printed)]
    assert actions_seen[0] == "rework" and actions_seen[-1] == "create"
    assert {"dispatch", "complete", "review"} <= set(actions_seen)
    text = ok(mc(board_path, "project", "log", "redo")).splitlines()
    assert len(text) == len(actions_seen) and "rework" in text[0]
    fails(mc(board_path, "project", "log", "nope"), "no project 'nope'")
    assert clean(board_path)


def test_delete_refused_outside_backlog_and_up_next(board: Board, board_path: Path) -> None:
    to_review(board, "busy")
    before = head(board_path)
    fails(mc(board_path, "project", "delete", "busy"), "busy")
    unchanged(board_path, before)
    assert lane_of(board_path, "busy") == "review"


# ---------------------------------------------------------------------- approve


@pytest.mark.parametrize("command", [["approve"], ["project", "approve"]])
def test_approve(board: Board, board_path: Path, command: list[str]) -> None:
    to_review(board, "p1")
    reviewed = head(board_path)
    ok(mc(board_path, *command, "p1"))

    assert lane_of(board_path, "p1") == "done"
    data = committed_yaml(board_path, "done/p1.yaml")
    assert data["approved"]["by"] == "alice@example.com"
    assert isinstance(data["approved"]["at"], dt.datetime)
    assert (board_path / "done" / "p1.yaml").is_file()
    assert not (board_path / "review" / "p1.yaml").exists()
    assert clean(board_path)

    assert signature(board_path) == ("G", "alice@example.com")
    found = trailers(board_path)
    assert found["Mc-Action"] == "approve"
    assert found["Mc-Project"] == "p1"
    assert found["Mc-Reviewed-Commit"] == reviewed
    assert ok(mc(board_path, "verify")).strip().endswith(", 0 violations")

    before = head(board_path)
    fails(mc(board_path, *command, "p1"), "p1", "done")
    unchanged(board_path, before)


def test_approve_refusals(board: Board, board_path: Path, keys: dict[str, Key]) -> None:
    to_review(board, "failed", verdict="fail")  # back in in-progress for rework
    to_review(board, "ready")
    new(board_path, "Idea", "--id", "idea")
    before = head(board_path)
    fails(mc(board_path, "approve", "failed"), "failed", "in-progress")
    fails(mc(board_path, "approve", "idea"), "idea", "backlog")
    fails(mc(board_path, "approve", "ghost"), "ghost")

    # Mallory's key is nobody's approver key.
    git(board_path, "config", "--global", "user.signingkey", str(keys["mallory"].public))
    fails(mc(board_path, "approve", "ready"), "not an approver")
    unchanged(board_path, before)
    assert lane_of(board_path, "ready") == "review"


# ---------------------------------------------------------------------- approvers, templates


def test_approvers_list_and_add(board_path: Path, keys: dict[str, Key]) -> None:
    rows = as_json(mc(board_path, "approvers", "list", "--json"))
    assert rows == [{"name": "alice@example.com", "key": public_key(keys["alice"])}]
    assert "alice@example.com" in ok(mc(board_path, "approvers", "list"))

    before = head(board_path)
    ok(mc(board_path, "approvers", "add", "bob", str(keys["bob"].public)))
    assert git(board_path, "rev-parse", "HEAD^").stdout.strip() == before
    assert tree(board_path) == tree(board_path, before)
    changed = git(board_path, "diff", "--name-only", before, "HEAD").stdout.split()
    assert changed == [".mc/allowed_signers"]
    # An approver exists, so the change is signed by one: alice.
    assert signature(board_path) == ("G", "alice@example.com")
    assert trailers(board_path)["Mc-Action"] == "approvers"
    principals = signer_principals(git(board_path, "show", "HEAD:.mc/allowed_signers").stdout)
    assert principals["bob"] == public_key(keys["bob"])
    assert principals["alice@example.com"] == public_key(keys["alice"])
    assert clean(board_path)

    names = {r["name"]: r["key"] for r in as_json(mc(board_path, "approvers", "list", "--json"))}
    assert names == {
        "alice@example.com": public_key(keys["alice"]),
        "bob": public_key(keys["bob"]),
    }
    assert "bob" in ok(mc(board_path, "approvers", "list"))
    assert ok(mc(board_path, "verify")).strip().endswith(", 0 violations")

    before = head(board_path)
    fails(mc(board_path, "approvers", "add", "bob2", str(keys["bob"].public)), "already")
    fails(mc(board_path, "approvers", "add", "mc-service", str(keys["mallory"].public)), "NAME")
    fails(mc(board_path, "approvers", "add", "carol", "not-a-key"), "not an SSH public key")
    unchanged(board_path, before)


def test_approvers_add_key_text_and_bob_approves(
    board: Board, board_path: Path, keys: dict[str, Key]
) -> None:
    ok(mc(board_path, "approvers", "add", "bob", keys["bob"].public_text))
    to_review(board, "p")
    git(board_path, "config", "--global", "user.signingkey", str(keys["bob"].public))
    ok(mc(board_path, "approve", "p"))
    assert committed_yaml(board_path, "done/p.yaml")["approved"]["by"] == "bob"
    assert signature(board_path) == ("G", "bob")


def test_template_list(board_path: Path) -> None:
    shipped = sorted(p.stem for p in (SOURCE / "board" / "templates").glob("*.yaml"))
    rows = as_json(mc(board_path, "template", "list", "--json"))
    assert [r["name"] for r in rows] == shipped
    for row in rows:
        assert row["text"] == (board_path / "templates" / f"{row['name']}.yaml").read_text()

    text = ok(mc(board_path, "template", "list"))
    for name in shipped:
        assert name in text

    # A template committed by a person is listed and usable.
    sneak(board_path, {"templates/chore.yaml": "# A small chore.\narchetype: ops\npriority: 4\n"})
    rows = as_json(mc(board_path, "template", "list", "--json"))
    assert "chore" in [r["name"] for r in rows]
    assert "A small chore." in ok(mc(board_path, "template", "list"))
    data = as_json(
        mc(board_path, "project", "new", "Tidy", "-a", "ops", "--template", "chore", "--json")
    )
    assert data["priority"] == 4


# ---------------------------------------------------------------------- verify, hooks


def test_verify(board_path: Path) -> None:
    new(board_path, "Fine", "--id", "fine")
    out = ok(mc(board_path, "verify"))
    assert out.strip().endswith("2 commits checked, 0 violations")
    assert as_json(mc(board_path, "verify", "--json")) == []

    bad = sneak(board_path, {"done/cheat.yaml": "title: Cheat\narchetype: coder\n"})
    proc = mc(board_path, "verify")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert bad[:12] in proc.stdout and "done/cheat.yaml" in proc.stdout
    assert "3 commits checked, 1 violation" in proc.stdout

    proc = mc(board_path, "verify", "--json")
    assert proc.returncode == 1
    violations = json.loads(proc.stdout)
    assert len(violations) == 1
    assert violations[0]["commit"] == bad
    assert violations[0]["project"] == "cheat"

    # A range: only the commits in it.
    proc = mc(board_path, "verify", f"{bad}^..{bad}", "--json")
    assert proc.returncode == 1 and len(json.loads(proc.stdout)) == 1
    assert ok(mc(board_path, "verify", "HEAD~2..HEAD~1")).strip().endswith("0 violations")
    fails(mc(board_path, "verify", "no-such-rev"), "no-such-rev")


def test_hooks_install(board_path: Path) -> None:
    hooks = board_path / ".git" / "hooks"
    for name in ("pre-commit", "commit-msg"):
        (hooks / name).unlink()
    out = ok(mc(board_path, "hooks", "install"))
    assert str(hooks / "pre-commit") in out and str(hooks / "commit-msg") in out
    assert_hooks_installed(board_path)
    assert_hook_refuses_bad_file(board_path)

    # Reinstalling over our own hooks is fine; someone else's needs --force.
    ok(mc(board_path, "hooks", "install"))
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    fails(mc(board_path, "hooks", "install"), "--force")
    assert (hooks / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    ok(mc(board_path, "hooks", "install", "--force"))
    assert_hooks_installed(board_path)


def test_hooks_install_server(board_path: Path, tmp_path: Path) -> None:
    bare = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(board_path), str(bare))
    out = ok(mc(tmp_path, "hooks", "install", "--server", str(bare)))
    hook = bare / "hooks" / "pre-receive"
    assert str(hook) in out
    assert "# installed by mc hooks install" in hook.read_text()
    assert hook.stat().st_mode & stat.S_IXUSR

    git(board_path, "remote", "add", "origin", str(bare))
    new(board_path, "Fine", "--id", "fine")
    assert git(board_path, "push", "-q", "origin", "main", check=False).returncode == 0
    pushed = head(board_path)

    sneak(board_path, {"done/cheat.yaml": "title: Cheat\narchetype: coder\n"})
    proc = git(board_path, "push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "done/cheat.yaml" in proc.stderr
    assert git(bare, "rev-parse", "main").stdout.strip() == pushed

    fails(mc(tmp_path, "hooks", "install", "--server", str(board_path)), "not a bare")
    fails(mc(tmp_path, "hooks", "install", "--server", str(tmp_path / "none")), "--server")


# ---------------------------------------------------------------------- which board


def test_board_option_and_environment(board_path: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    ok(mc(elsewhere, "--board", str(board_path), "project", "new", "Remote", "-a", "coder"))
    assert lane_of(board_path, "remote") == "backlog"
    assert clean(board_path)
    ok(mc(elsewhere, "-b", "../board", "project", "queue", "remote"))
    assert lane_of(board_path, "remote") == "up-next"

    env = {"MC_BOARD": str(board_path)}
    rows = as_json(mc(elsewhere, "project", "list", "--json", env=env))
    assert [(r["id"], r["lane"]) for r in rows] == [("remote", "up-next")]
    ok(mc(elsewhere, "project", "edit", "remote", "--set", "priority=1", env=env))
    assert committed_yaml(board_path, "up-next/remote.yaml")["priority"] == 1

    # --board wins over MC_BOARD.
    other = tmp_path / "other"
    ok(mc(tmp_path, "init", str(other)))
    rows = as_json(mc(elsewhere, "--board", str(other), "project", "list", "--json", env=env))
    assert rows == []


def test_outside_any_board(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fails(mc(elsewhere, "project", "list"), "mc init")
    fails(mc(elsewhere, "board"), "mc init")
    fails(mc(tmp_path, "--board", str(elsewhere), "project", "list"), "mc init")

    plain = tmp_path / "plain"
    git(tmp_path, "init", "-q", str(plain))
    fails(mc(plain, "project", "list"), "mc init")
    fails(mc(elsewhere, "project", "list", env={"MC_BOARD": str(plain)}), "mc init")


def test_board_option_naming_a_missing_folder_or_a_file(tmp_path: Path) -> None:
    fails(mc(tmp_path, "--board", str(tmp_path / "none"), "board"), "none")
    write(tmp_path / "afile", "x\n")
    fails(mc(tmp_path, "--board", str(tmp_path / "afile"), "board"), "afile")


# ---------------------------------------------------------------------- missionctl, usage errors


def test_missionctl_is_the_same_app(board_path: Path) -> None:
    assert MISSIONCTL.is_file()
    proc = subprocess.run([str(MISSIONCTL), "--help"], capture_output=True, text=True)
    out = ok(proc)
    assert "missionctl" in out
    for command in ("init", "project", "approve", "approvers", "template", "board", "verify"):
        assert command in out
    mc_help = ok(subprocess.run([str(MC), "--help"], capture_output=True, text=True))
    assert out == mc_help.replace("Usage: mc ", "Usage: missionctl ")

    proc = subprocess.run(
        [str(MISSIONCTL), "project", "new", "Via missionctl", "-a", "writer", "--json"],
        cwd=board_path,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    data = json.loads(ok(proc))
    assert data["id"] == "via-missionctl"
    assert lane_of(board_path, "via-missionctl") == "backlog"
    assert trailers(board_path)["Mc-Action"] == "create"

    proc = subprocess.run(
        [str(MISSIONCTL), "project", "show", "ghost"],
        cwd=board_path,
        capture_output=True,
        text=True,
    )
    fails(proc, "ghost")


@pytest.mark.parametrize(
    "args",
    [
        ["project", "new", "No archetype"],
        ["project", "new", "Bad priority", "-a", "coder", "--priority", "high"],
        ["project", "frobnicate"],
        ["project", "list", "--colour"],
    ],
)
def test_usage_errors_are_one_line(board_path: Path, args: list[str]) -> None:
    before = head(board_path)
    fails(mc(board_path, *args))
    unchanged(board_path, before)
