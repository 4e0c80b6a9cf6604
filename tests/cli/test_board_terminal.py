"""`mc board` in a terminal: project ids, the terminal's width (columns or stacked lanes,
titles cut with …), and `mc board --watch` redrawing live on every commit until Ctrl-C —
each through the real CLI in a subprocess, on a real board."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from mc.board import actions
from mc.board.board import Board

from ..conftest import git, mc_up, run_mc

EMBEDDED = {"MC_DATABASE_URL": ""}  # the board's own database, as mc up runs it
LONG = "Build a command line tool whose title is much too long for any lane of the board"


def _board(board_path: Path) -> None:
    with Board.open(board_path) as board:
        actions.new_project(board, LONG, "coder", project_id="long-one")
        actions.new_project(board, "Short", "coder", project_id="short")
        actions.queue(board, "short")


def _show(board_path: Path, columns: int) -> list[str]:
    proc = run_mc(board_path, "board", env={"COLUMNS": str(columns)})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_wide_terminal_lanes_are_columns_with_ids(board_path: Path) -> None:
    _board(board_path)
    lines = _show(board_path, 200)
    assert all(len(line) <= 200 for line in lines)
    head = lines[0]
    for title in ("Backlog (1)", "Up next (1)", "In progress (0/3)", "Review (0/10)", "Done (0)"):
        assert title in head  # one line: the lanes side by side
    row = lines[2]
    assert row.startswith("long-one  Build a command") and row.split("  ")[1].endswith("…")
    assert "short  Short" in row and row.index("short") >= 40  # in the second column
    assert LONG not in "\n".join(lines)


def test_narrow_terminal_lanes_are_stacked_and_fit(board_path: Path) -> None:
    _board(board_path)
    lines = _show(board_path, 80)
    assert all(len(line) <= 80 for line in lines), [ln for ln in lines if len(ln) > 80]
    assert lines[0] == "Backlog (1)"
    assert lines.index("Up next (1)") > lines.index("Backlog (1)")
    backlog = lines[lines.index("Backlog (1)") + 2]
    assert backlog.startswith("  long-one  Build a command") and backlog.endswith("…")
    assert len(backlog) == 80
    up_next = lines[lines.index("Up next (1)") + 2]
    assert up_next == "  short  Short"
    review = lines[lines.index("Review (0/10)") + 2]
    assert review == "  (empty)"


def test_a_tiny_or_silly_width_still_draws(board_path: Path) -> None:
    _board(board_path)
    for columns in ("10", "0", "abc"):
        proc = run_mc(board_path, "board", env={"COLUMNS": columns})
        assert proc.returncode == 0, proc.stderr
        assert "long-one" in proc.stdout and "Traceback" not in proc.stderr


class Watching:
    """A running `mc board --watch`; its output read line by line on a thread."""

    def __init__(self, board_path: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mc", "--board", str(board_path), "board", "--watch"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "80", **(env or {})},
            start_new_session=True,  # not in mc up's group, nor the test's
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def frame(self, seconds: float = 10) -> list[str]:
        """The next whole frame (up to its footer line)."""
        deadline = time.monotonic() + seconds
        got: list[str] = []
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if line.startswith("— ") and "Ctrl-C to stop" in line:
                return [*got, line]
            if line:
                got.append(line)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


def _lane(frame: list[str], heading: str) -> list[str]:
    """The project lines under a lane's heading in a stacked frame."""
    start = next(i for i, line in enumerate(frame) if line.startswith(heading + " ("))
    out = []
    for line in frame[start + 2 :]:
        if not line.startswith("  "):
            break
        out.append(line.strip())
    return out


def test_watch_redraws_on_a_commit_and_ctrl_c_exits_0(board_path: Path) -> None:
    _board(board_path)
    watching = Watching(board_path)
    try:
        first = watching.frame()
        assert _lane(first, "Backlog")[0].startswith("long-one")
        assert "live (git)" in first[-1]
        # a second writer: a person's own commit in the board's checkout
        git(board_path, "mv", "backlog/long-one.yaml", "up-next/long-one.yaml")
        started = time.monotonic()
        git(board_path, "commit", "-q", "-m", "queue long-one by hand")
        second = watching.frame(seconds=5)
        took = time.monotonic() - started
        assert [p.split()[0] for p in _lane(second, "Up next")] == ["long-one", "short"]
        assert _lane(second, "Backlog") == ["(empty)"]
        assert took < 3, took
        # through mc's own store too (compare-and-swap on the ref)
        with Board.open(board_path) as board:
            actions.cancel(board, "short")
        third = watching.frame(seconds=5)
        assert [p.split()[0] for p in _lane(third, "Backlog")] == ["short"]
    finally:
        code, err = watching.stop()
    assert code == 0, err
    assert "Traceback" not in err and "Aborted" not in err


def test_watch_follows_the_database_feed_when_it_runs(board_path: Path, database_url: str) -> None:
    """With the board's database up, the watch also LISTENs on the board channel."""
    _board(board_path)
    watching = Watching(board_path, env={"MC_DATABASE_URL": database_url})
    try:
        first = watching.frame()
        assert "live (git, database)" in first[-1]
        with Board.open(board_path) as board:
            actions.queue(board, "long-one")
        second = watching.frame(seconds=5)
        assert [p.split()[0] for p in _lane(second, "Up next")] == ["long-one", "short"]
    finally:
        code, err = watching.stop()
    assert code == 0, err


def test_watch_beside_mc_up_listens_to_its_feed(board_path: Path) -> None:
    """The way a person uses it: `mc up` in one pane, `mc board --watch` in another."""
    _board(board_path)
    up = mc_up(board_path, uuid.uuid4().hex, workers=1, output=False)
    watching = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = run_mc(board_path, "status", "--json", env=EMBEDDED)
            if status.returncode == 0 and json.loads(status.stdout)["daemon"]["running"]:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("mc up did not start")
        watching = Watching(board_path, env=EMBEDDED)
        first = watching.frame(seconds=20)
        assert "live (git, database)" in first[-1]
        queued = run_mc(board_path, "project", "queue", "long-one", env=EMBEDDED)
        assert queued.returncode == 0, queued.stderr
        frame = watching.frame(seconds=10)  # queued, and then the dispatcher takes it
        assert "long-one" not in " ".join(_lane(frame, "Backlog"))
    finally:
        code = watching.stop()[0] if watching is not None else 0
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
    assert code == 0


def test_watch_refuses_json(board_path: Path) -> None:
    proc = run_mc(board_path, "board", "--watch", "--json")
    assert proc.returncode == 1 and proc.stderr.startswith("mc: --watch:")
    assert len(proc.stderr.strip().splitlines()) == 1


class Pane:
    """`mc board --watch` in a real pseudo-terminal of a given size (no COLUMNS)."""

    def __init__(self, board_path: Path, columns: int) -> None:
        import pty

        self.master, slave = pty.openpty()
        self.resize(columns)
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mc", "--board", str(board_path), "board", "--watch"],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def resize(self, columns: int) -> None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))

    def screen(self, seconds: float = 10) -> str:
        """What the next clear-and-draw put on the screen."""
        import select

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            frames = self.seen.split(b"\x1b[H\x1b[2J")
            if len(frames) > 1 and b"Ctrl-C to stop" in frames[1]:
                screen, rest = frames[1].split(b"Ctrl-C to stop", 1)
                self.seen = b"\x1b[H\x1b[2J".join([rest, *frames[2:]])
                return screen.decode().replace("\r\n", "\n")
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                self.seen += os.read(self.master, 65536)
        raise AssertionError(f"no new screen: {self.seen[-400:]!r}")


def test_watch_in_a_terminal_clears_redraws_and_follows_a_resize(board_path: Path) -> None:
    _board(board_path)
    pane = Pane(board_path, 200)
    try:
        wide = pane.screen().splitlines()
        assert "Backlog (1)" in wide[0] and "Done (0)" in wide[0]  # side by side
        assert all(len(line) <= 200 for line in wide)
        pane.resize(80)
        os.killpg(pane.proc.pid, signal.SIGWINCH)  # what the terminal sends its job
        narrow = pane.screen().splitlines()
        assert narrow[0] == "Backlog (1)" and "Up next (1)" in narrow  # stacked
        assert all(len(line) <= 80 for line in narrow)
    finally:
        os.killpg(pane.proc.pid, signal.SIGINT)  # Ctrl-C in the pane
        code = pane.proc.wait(10)
        os.close(pane.master)
    assert code == 0
