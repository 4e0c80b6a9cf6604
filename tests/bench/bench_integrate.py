"""Approve → merged on a workspace of 10,000 files (issue 15). Not collected.

Run:  .venv/bin/python tests/bench/bench_integrate.py [--files 10000] [--runs 5] [--mode merge]

Per run: a coder project is taken to a passing review with a real run in a worktree
of a generated workspace (``--files`` files; the agent changes three of them), the
base branch gets one more commit of the person's own (so merge makes a merge commit),
and the time is measured from calling ``mc.pipeline.integrate.approve`` to its return:
the branch checked against the review, merge-tree, the base's compare-and-swap with the
person's clean checkout following it, the signed approval commit and the cleanup.
Also timed: ``check`` alone (what the page's Integration panel asks).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2]))

from mc.board.board import Board  # noqa: E402
from mc.board.init import init  # noqa: E402
from mc.settings import reset  # noqa: E402
from tests.bench.common import isolated_git, machine, sh, summary  # noqa: E402
from tests.conftest import coder_to_review  # noqa: E402


def workspace(folder: Path, files: int) -> Path:
    """A repository of ``files`` small files in 100 folders, one commit (fast-import)."""
    sh("git", "init", "-q", "-b", "main", str(folder), cwd=folder.parent)
    lines = ["commit refs/heads/main", "committer Bench <b@example.com> 1700000000 +0000"]
    lines += ["data 6", "start", ""]
    for i in range(files):
        body = f"# file {i}\nvalue = {i}\n"
        lines += [f"M 644 inline d{i % 100:02d}/f{i:05d}.py", f"data {len(body.encode())}", body]
    subprocess.run(
        ["git", "fast-import", "--quiet"], input="\n".join(lines) + "\n", text=True,
        cwd=folder, check=True,
    )  # fmt: skip
    sh("git", "checkout", "-q", "-f", "main", cwd=folder)
    return folder


def signing_key(tmp: Path) -> None:
    """An approver key (ssh-keygen) as the person's signing key, before mc init."""
    key = tmp / "approver"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), cwd=tmp)
    sh("git", "config", "--global", "gpg.format", "ssh", cwd=tmp)
    sh("git", "config", "--global", "user.signingkey", f"{key}.pub", cwd=tmp)


def one_run(tmp: Path, n: int, files: int, mode: str) -> tuple[float, float]:
    from mc.pipeline import integrate

    root = tmp / f"run{n}"
    root.mkdir()
    ws = workspace(root / "code", files)
    init(root / "board")
    with Board.open(root / "board") as board:
        edits = {f"d{k:02d}/f{k:05d}.py": f"value = 'changed {k}'\n" for k in (1, 2, 3)}
        coder_to_review(board, root, "bench", str(ws), edits, mode)
        (ws / "person.txt").write_text("the person's own commit\n")
        sh("git", "add", "person.txt", cwd=ws)
        sh("git", "commit", "-q", "--no-gpg-sign", "-m", "person", cwd=ws)
        started = time.perf_counter()
        integrate.check(board, "bench")
        checked = time.perf_counter()
        integrate.approve(board, "bench")
        done = time.perf_counter()
    merged = sh("git", "log", "-1", "--format=%P", cwd=ws).split()
    assert len(merged) == (2 if mode == "merge" else 1), merged
    assert (ws / "d01" / "f00001.py").read_text() == "value = 'changed 1'\n"
    return (checked - started) * 1000, (done - checked) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", default="merge", choices=["merge", "squash"])
    args = parser.parse_args()
    print(machine(), "—", sh("git", "--version", cwd=Path("/")).strip())
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-integrate-"))
    isolated_git(tmp)
    signing_key(tmp)
    reset()
    checks, approvals = [], []
    for n in range(args.runs):
        check_ms, approve_ms = one_run(tmp, n, args.files, args.mode)
        checks.append(check_ms)
        approvals.append(approve_ms)
    print(f"workspace of {args.files} files, integrate: {args.mode}")
    print(f"check (Integration panel)     {summary(checks)}")
    print(f"approve → merged + approved   {summary(approvals)}")


if __name__ == "__main__":
    main()
