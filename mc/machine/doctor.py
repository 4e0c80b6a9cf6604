"""`mc doctor`: what a person needs to know before agents run unattended on this machine.

Each check is real: the sandbox check starts a probe inside a real sandbox and reports
what it could reach; the agent CLI check runs each archetype's program (``--version``)
inside the sandbox too, as an agent would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from mc.board.board import Board
from mc.board.layout import SERVICE_KEY_PATH
from mc.errors import McError
from mc.pipeline import sandbox


class Check(NamedTuple):
    name: str
    ok: bool  # False: a problem (mc doctor exits 1)
    summary: str
    details: tuple[str, ...] = ()
    warning: bool = False  # works, but the person should know


PROBE = r"""
import json, os, socket, sys
targets = json.loads(sys.argv[1])
def can_read(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        return True
    except OSError:
        return False
def can_connect(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(path)
        return True
    except OSError:
        return False
def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
        return True
    except OSError:
        return False
print(json.dumps({
    "uid": os.getuid(),
    "pid": os.getpid(),
    "home": os.environ.get("HOME"),
    "reach": {name: can_read(path) for name, path in targets["read"].items()},
    "connect": {name: can_connect(path) for name, path in targets["connect"].items()},
    "write": {name: can_write(path) for name, path in targets["write"].items()},
}))
"""


def sandbox_check(board: Board | None, socket_path: str | None) -> Check:
    """Start a probe in a real sandbox: what can an agent reach?"""
    reason = sandbox.unavailable()
    off = board is not None and not board.config.sandbox
    if reason is not None:
        if off:
            return Check("sandbox", True, f"off in mc.yaml (and unavailable: {reason})",
                         warning=True)  # fmt: skip
        return Check("sandbox", False, reason)
    user = sandbox.agent_user()
    version = _version([sandbox.bwrap_path() or "bwrap", "--version"]) or "bwrap"
    who = f"as {user.name} (uid {user.uid})" if user else "as you, in a user namespace"
    home = Path.home()
    targets: dict[str, dict[str, str]] = {
        "read": {
            "~/.ssh": str(home / ".ssh"),
            "~/.gnupg": str(home / ".gnupg"),
            "~/.gitconfig": str(home / ".gitconfig"),
        },
        "connect": {},
        "write": {"/usr": "/usr/.mc-probe", "/etc": "/etc/.mc-probe"},
    }
    if board is not None:
        targets["read"]["the board"] = str(board.root)
        targets["read"][SERVICE_KEY_PATH] = str(board.root / SERVICE_KEY_PATH)
        targets["write"]["the board"] = str(board.root / ".mc-probe")
    if socket_path:
        targets["connect"]["the database socket"] = socket_path
    with tempfile.TemporaryDirectory(prefix="mc-doctor-") as tmp:
        folder = Path(tmp)
        for name in ("ws", "out", "home"):
            (folder / name).mkdir()
        brief = folder / "brief.md"
        brief.write_text("probe\n")
        probe = folder / "probe.py"
        probe.write_text(PROBE)
        command = [sys.executable, "-I", str(probe), json.dumps(targets)]
        plan = sandbox.Plan(
            tuple(command), folder / "ws", folder / "out", brief, folder / "home",
            read_only=(*sandbox.runtime_paths(command, os.environ.get("PATH")), probe),
        )  # fmt: skip
        os.chmod(folder, 0o755)
        sandbox.hand_over([folder], user)
        try:
            proc = subprocess.run(
                sandbox.argv(plan, user), capture_output=True, text=True, timeout=30,
                env=sandbox.environment({"PATH": os.environ.get("PATH", "")}, plan.home, user),
            )  # fmt: skip
        finally:
            sandbox.take_back([folder], user)
    try:
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return Check("sandbox", False, f"the probe failed: {detail[-1] if detail else '?'}")
    leaks = [f"read {n}" for n, ok in seen["reach"].items() if ok]
    leaks += [f"connect to {n}" for n, ok in seen["connect"].items() if ok]
    leaks += [f"write {n}" for n, ok in seen["write"].items() if ok]
    if seen["uid"] == 0:
        leaks.append("run as root")
    details = (
        "an agent sees: the system read-only (/usr, /etc), its workspace and output folder, "
        "its brief, a private HOME and /tmp, the network",
        "it cannot: "
        + ", ".join(
            [f"read {n}" for n in seen["reach"]]
            + [f"connect to {n}" for n in seen["connect"]]
            + [f"write {n}" for n in seen["write"]]
        ),
        f"its processes live in a PID namespace of their own (it is pid {seen['pid']} there)",
    )
    if leaks:
        return Check("sandbox", False, "the probe could " + ", ".join(leaks), details)
    summary = f"{version.strip()}: agents run confined, {who}"
    if off:
        return Check("sandbox", True, f"off in mc.yaml: agents run unconfined ({summary} "
                     "is available)", details, warning=True)  # fmt: skip
    return Check("sandbox", True, summary, details)


def signing_check(board: Board) -> Check:
    from mc.board.actions import approver_principal

    try:
        principal = approver_principal(board)
    except McError as exc:
        return Check("signing", True, f"you cannot approve here: {exc}", warning=True)
    return Check("signing", True, f"you approve as {principal} (your git signing key)")


def postgres_check(board: Board) -> Check:
    from mc.errors import EmbeddedError
    from mc.mirror.embedded import find_bindir
    from mc.mirror.target import target

    where = target(board)
    if where.cluster is None:
        return Check("database", True, "PostgreSQL at the configured URL (database_url)")
    try:
        found = find_bindir()
    except EmbeddedError as exc:
        return Check("database", False, str(exc))
    state = "running" if where.cluster.running() else "started when needed"
    return Check(
        "database", True, f"embedded PostgreSQL ({found}), {state}; only you may connect (peer)"
    )


def agents_check(board: Board) -> list[Check]:
    """Each archetype's program, run (--version) the way an agent runs: in the sandbox."""
    from mc.pipeline.runners import resolve

    config = board.config
    out = []
    seen: dict[str, Check] = {}
    for name, archetype in sorted(config.archetypes.items()):
        try:
            runner = resolve(archetype.runner, config.runners, archetype.command, archetype.args)
        except McError as exc:
            out.append(Check(f"agent {name}", False, str(exc)))
            continue
        if not runner.spawns:
            out.append(Check(f"agent {name}", True, f"{archetype.runner}: a hand-off (no agent)"))
            continue
        program = runner.program_files()[0]
        if program not in seen:
            seen[program] = _program_check(program, runner.install)
        found = seen[program]
        label = (
            archetype.runner if archetype.runner == program else f"{archetype.runner} ({program})"
        )
        out.append(found._replace(name=f"agent {name}", summary=f"{label}: {found.summary}"))
    return out


def _program_check(program: str, install: str) -> Check:
    path = shutil.which(program)
    if path is None:
        hint = f" ({install})" if install else ""
        return Check("", False, f"not installed{hint}")
    version = _version([path, "--version"])
    if version is None:
        return Check("", False, f"{path} did not answer --version")
    return Check("", True, f"{path} {version.strip()[:80]}")


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else ""


def run(board: Board | None) -> list[Check]:
    checks = []
    socket_path = None
    if board is not None:
        from mc.mirror.target import target

        where = target(board)
        if where.cluster is not None:
            socket_path = str(where.cluster.socket_dir / ".s.PGSQL.5432")
    checks.append(sandbox_check(board, socket_path))
    if board is not None:
        checks += [postgres_check(board), signing_check(board), *agents_check(board)]
    return checks
