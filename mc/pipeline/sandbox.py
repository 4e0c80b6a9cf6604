"""Agent confinement (DESIGN §6): every spawned agent runs in a bubblewrap sandbox.

What an agent sees: the system read-only (``/usr``, ``/etc`` and the merged-usr links),
the runtime its command needs read-only (the folder its CLI is installed in, and its
interpreter's), its workspace and output folder read-write, its brief read-only, a
private ``/tmp``, and a private HOME that holds copies of the config and credential
files its runner declares (``~/.claude/.credentials.json``, ``~/.codex/auth.json``…).
Copies, not binds: an agent can use the person's login but cannot plant a hook or a
setting in the person's own CLI config, which runs unconfined the next time the person
uses that CLI. The network stays (agents call their APIs).

What it does not see: the rest of the person's HOME (``~/.ssh``, ``~/.gnupg``,
``~/.gitconfig``), the board repository and its ``.mc/`` (service key, database,
other jobs), the database socket, other jobs' folders.

Processes: a PID namespace of its own (``--unshare-pid``) with ``--die-with-parent``,
so every process the agent starts — daemonized, ``setsid``, double-forked — ends when
the agent's main process ends, when the guard stops it, or when the guard dies by any
signal. As root, the agent runs as an unprivileged user (``MC_AGENT_USER``, else
``mc-agent`` if it exists, else ``nobody``; taken inside the sandbox with setpriv), so
a breakout is not root and CLIs that refuse to skip their permission prompts as root run.

The argv is built here by hand: bwrap takes a flat list of mount operations, and no
library wraps it with the few choices that matter here (what to bind, in which order).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from mc.settings import Settings, current

BWRAP = "bwrap"
SETPRIV = "/usr/bin/setpriv"  # util-linux: as root, the agent user is taken inside
SYSTEM_READ_ONLY = ("/usr", "/etc")
MERGED_USR = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HOME_COPY_CAP = 64 * 1024 * 1024  # bytes of declared config copied into a private HOME
INSTALL_MARKERS = ("bin", "lib", "lib64", "libexec", "node_modules", "site-packages")
# Variables that lead to the person's session (sockets, runtime folders) or that the
# sandbox sets itself.
_SESSION_VARS = {
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "XAUTHORITY",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "KRB5CCNAME",
    "TMUX",
    "TMUX_PANE",
    "STY",
    "OLDPWD",
    "PWD",
    "MAIL",
}
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"
OFF_HINT = "or set sandbox: off in mc.yaml (a signed change) to run agents unconfined"


class SandboxUnavailable(Exception):
    """bwrap cannot confine an agent on this machine (the message says why)."""


class AgentUser(NamedTuple):
    name: str
    uid: int
    gid: int


class Plan(NamedTuple):
    """What one agent run may see, and the command it runs."""

    command: tuple[str, ...]
    workspace: Path  # read-write, the cwd
    output: Path  # read-write
    brief: Path  # read-only
    home: Path  # the private HOME (read-write)
    read_only: tuple[Path, ...] = ()  # runtimes, the runner's extra paths, git common dirs
    writable: tuple[Path, ...] = ()  # the runner's extra writable paths


# ---------------------------------------------------------------------- who runs it


def agent_user() -> AgentUser | None:
    """As root: the unprivileged user agents run as; otherwise None (agents run as us)."""
    if os.geteuid() != 0:
        return None
    import pwd

    wanted = current().agent_user
    variable = Settings.agent_user.variable
    for name in [wanted] if wanted else ["mc-agent", "nobody"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise SandboxUnavailable(f"{variable}={name} is root: agents never run as root")
        return AgentUser(name, entry.pw_uid, entry.pw_gid)
    raise SandboxUnavailable(
        f"running as root, agents need an unprivileged user: {wanted or 'nobody'} does not "
        f"exist (useradd --system mc-agent, or set {variable})"
    )


def bwrap_path() -> str | None:
    return shutil.which(BWRAP)


@functools.lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why agents cannot be sandboxed here (None: they can). Probed once per process."""
    found = bwrap_path()
    if found is None:
        return f"bwrap is not installed: {INSTALL_HINT}, {OFF_HINT}"
    try:
        user = agent_user()
    except SandboxUnavailable as exc:
        return str(exc)
    if user is not None and not os.path.exists(SETPRIV):
        return f"{SETPRIV} is missing (util-linux): as root it makes the agent unprivileged"
    argv = [found, *_base_args(user), *_system_args(), "--", *_become(user), "/bin/true"]
    try:
        proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}; {OFF_HINT}"
    if proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        why = detail[-1] if detail else f"exit status {proc.returncode}"
        return f"bwrap cannot make a sandbox here ({why}): user namespaces may be off; {OFF_HINT}"
    return None


def state(enabled: bool) -> tuple[str, str]:
    """What every surface says about confinement: ("on"|"off"|"unavailable", message)."""
    if not enabled:
        return (
            "off",
            "sandbox: off in mc.yaml — agents run unconfined, as you, with your keys, the "
            "board and the database in reach",
        )
    reason = unavailable()
    if reason is not None:
        return "unavailable", f"agents cannot run here: {reason}"
    user = agent_user()
    who = f"as {user.name}" if user is not None else "in a user namespace"
    return "on", f"agents run confined (bubblewrap, {who})"


# ---------------------------------------------------------------------- the argv


def _base_args(user: AgentUser | None) -> list[str]:
    """Namespaces and the private /proc, /dev, /tmp, /run.

    Unprivileged (``user`` None): a user namespace of our own uid, in which no further
    user namespace may be made. As root: no user namespace — bwrap makes the mounts with
    root's reach (so a runtime under /root can be bound), then ``setpriv`` becomes the
    agent user for good (every capability gone, no new privileges) before the agent runs.
    """
    if user is None:
        spaces = ["--unshare-all", "--share-net", "--unshare-user", "--disable-userns"]
    else:
        spaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    return [
        *spaces,
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/run",
    ]


def _become(user: AgentUser | None) -> list[str]:
    if user is None:
        return []
    return [
        SETPRIV,
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def _system_args() -> list[str]:
    args: list[str] = []
    for path in SYSTEM_READ_ONLY:
        if os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in MERGED_USR:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():  # e.g. systemd-resolved's stub under /run: DNS must work
        target = resolv.resolve().parent
        if not str(target).startswith(SYSTEM_READ_ONLY):
            args += ["--ro-bind-try", str(target), str(target)]
    return args


def argv(plan: Plan, user: AgentUser | None, bwrap: str | None = None) -> list[str]:
    """The bwrap command line for ``plan`` (a list; nothing in it goes through a shell),
    run as ``user`` inside (as root; None: as ourselves)."""
    found = bwrap or bwrap_path()
    if found is None:
        raise SandboxUnavailable(f"bwrap is not installed: {INSTALL_HINT}")
    mounts: list[tuple[Path, str]] = []
    mounts += [(p, "--ro-bind") for p in plan.read_only]
    mounts += [(p, "--bind") for p in plan.writable]
    mounts += [(plan.home, "--bind"), (plan.workspace, "--bind"), (plan.output, "--bind")]
    mounts.append((plan.brief, "--ro-bind"))
    # Parents before children (a writable folder inside a read-only one stays writable);
    # a path its parent's bind already shows the same way is not bound again (binding a
    # venv's bin/python inside the bound venv would need a file bwrap cannot make).
    ordered: list[tuple[Path, str]] = []
    for path, how in sorted(mounts, key=lambda m: len(m[0].parts)):
        covering = [h for p, h in ordered if p == path or p in path.parents]
        if covering and (how == "--ro-bind" or covering[-1] == "--bind"):
            continue
        ordered.append((path, how))
    args = [found, *_base_args(user), *_system_args()]
    # The folders leading to each bind, made traversable (bwrap makes them 0700 as root).
    made: set[Path] = {Path("/")}
    bound: list[Path] = []
    for path, how in ordered:
        for parent in reversed(path.parents):
            if parent in made or any(b == parent or b in parent.parents for b in bound):
                continue
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
        args += [how, str(path), str(path)]
        bound.append(path)
    args += ["--chdir", str(plan.workspace), "--", *_become(user), *plan.command]
    return args


def environment(base: Mapping[str, str], home: Path, user: AgentUser | None) -> dict[str, str]:
    """The agent's environment inside: ``base`` (already free of secrets) with a private
    HOME and /tmp, and nothing that leads to the person's session."""
    env = {k: v for k, v in base.items() if k not in _SESSION_VARS and not k.startswith("XDG_")}
    name = user.name if user is not None else os.environ.get("USER", "agent")
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": "/tmp",
            "USER": name,
            "LOGNAME": name,
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
    )
    return env


# ---------------------------------------------------------------------- what to bind


def runtime_paths(command: Sequence[str], path_env: str | None) -> tuple[Path, ...]:
    """Read-only folders the command needs that the system binds do not cover: where its
    program is installed, and its interpreter's (a ``#!`` line), e.g. a node prefix
    under ~/.nvm or a Python under ~/.pyenv."""
    if not command:
        return ()
    found: list[Path] = []
    program = _which(command[0], path_env)
    for _ in range(3):  # the program, its interpreter, that one's (a venv's python)
        if program is None:
            break
        real = program.resolve()
        for candidate in (program, real):
            root = install_root(candidate)
            if root is not None and root not in found:
                found.append(root)
        program = _interpreter(real, path_env)
    if Path(command[0]).resolve() == Path(sys.executable).resolve():
        for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
            root = _safe_root(Path(prefix))
            if root is not None and root not in found:
                found.append(root)
    return tuple(found)


def command_files(template: Sequence[str]) -> tuple[Path, ...]:
    """Files the runner's own command names by absolute path (a script, a config), read
    only. Only files: a folder named there is not a licence to show its neighbours."""
    found = []
    for part in template:
        if "{" in part or not part.startswith("/"):
            continue  # placeholders are the run's own folders, bound already
        path = Path(part)
        if path.is_file() and not _system(path):
            found.append(path)
    return tuple(found)


def _which(name: str, path_env: str | None) -> Path | None:
    if os.sep in name:
        return Path(name) if os.path.exists(name) else None
    hit = shutil.which(name, path=path_env)
    return Path(hit).absolute() if hit else None


def _interpreter(program: Path, path_env: str | None) -> Path | None:
    try:
        with open(program, "rb") as f:
            first = f.readline(200)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        rest = [w for w in words[1:] if not w.startswith("-")]
        return _which(rest[0], path_env) if rest else None
    return Path(words[0])


def _system(path: Path) -> bool:
    text = str(path)
    return any(text == p or text.startswith(p + "/") for p in (*SYSTEM_READ_ONLY, *MERGED_USR))


def install_root(path: Path) -> Path | None:
    """The prefix a program is installed in (``<prefix>/bin/x``, ``<prefix>/lib/...``), or
    None when the system binds already cover it."""
    path = path.absolute()
    if _system(path):
        return None
    parts = path.parts
    for i, part in enumerate(parts[:-1]):
        if part in INSTALL_MARKERS and i > 1:
            return _safe_root(Path(*parts[:i])) or _safe_root(path.parent)
    return _safe_root(path.parent)


def _safe_root(path: Path) -> Path | None:
    """``path``, unless binding it would show the agent the person's HOME or /."""
    path = path.absolute()
    if _system(path) or path == Path("/"):
        return None
    home = Path.home().absolute()
    if path == home or path in home.parents:
        return None
    return path


def git_paths(workspace: Path) -> tuple[Path, ...]:
    """A worktree's git folders (read-only): the agent can read history and diff, while
    every change is committed by mc after the run, outside the sandbox."""
    dot_git = workspace / ".git"
    if not dot_git.is_file():
        return ()
    text = dot_git.read_text(errors="replace").strip()
    if not text.startswith("gitdir:"):
        return ()
    gitdir = (workspace / text.removeprefix("gitdir:").strip()).resolve()
    common = gitdir
    common_file = gitdir / "commondir"
    if common_file.is_file():
        common = (gitdir / common_file.read_text().strip()).resolve()
    return tuple(dict.fromkeys([common, gitdir]))


# ---------------------------------------------------------------------- job folders


def jobs_root(board_root: Path) -> Path:
    """Where a board's job folders live: the person's state folder, outside the
    repository, so that no path from an agent's workspace leads back to the board."""
    digest = hashlib.sha1(str(board_root.resolve()).encode()).hexdigest()[:12]
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    root = Path(state) / "mc" / "jobs" / digest
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def prepare_home(home: Path, declared: Iterable[str], source: Path | None = None) -> list[str]:
    """Fill a private HOME with copies of the declared HOME-relative paths (those that
    exist); returns the ones copied. Symlinks are copied as what they point to only when
    that is inside the person's HOME too."""
    source = (source or Path.home()).absolute()
    copied = []
    budget = [HOME_COPY_CAP]
    for rel in declared:
        rel_path = Path(rel.removeprefix("~/"))
        if rel_path.is_absolute() or ".." in rel_path.parts:
            continue
        origin = source / rel_path
        if not origin.exists():
            continue
        real = origin.resolve()
        if real != source and source not in real.parents:
            continue  # a link out of the HOME: not the runner's to declare
        target = home / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if real.is_dir():
            _copy_tree(real, target, budget)
        elif real.is_file() and _spend(budget, real.stat().st_size):
            shutil.copy2(real, target)
        copied.append(rel)
    return copied


def _spend(budget: list[int], size: int) -> bool:
    if size > budget[0]:
        return False
    budget[0] -= size
    return True


def _copy_tree(origin: Path, target: Path, budget: list[int]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(origin):
        if entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            _copy_tree(Path(entry.path), target / entry.name, budget)
        elif entry.is_file(follow_symlinks=False) and _spend(budget, entry.stat().st_size):
            shutil.copy2(entry.path, target / entry.name)


def hand_over(paths: Iterable[Path], user: AgentUser | None) -> None:
    """Give the agent user its folders (as root); never following a symlink."""
    if user is None:
        return
    for path in paths:
        _chown_tree(path, user.uid, user.gid)


def take_back(paths: Iterable[Path], user: AgentUser | None) -> None:
    """After the run (every process of the sandbox is gone): the folders are ours again."""
    if user is None:
        return
    for path in paths:
        _chown_tree(path, os.geteuid(), os.getegid())


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    if not path.exists() and not path.is_symlink():
        return
    os.lchown(path, uid, gid)
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        return
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in [*dirs, *files]:
            try:
                os.lchown(os.path.join(folder, name), uid, gid)
            except FileNotFoundError:
                continue


# ---------------------------------------------------------------------- processes


def namespace_members(child_pid: int) -> list[int]:
    """Every process in the PID namespace whose first process is ``child_pid``."""
    try:
        ns = os.readlink(f"/proc/{child_pid}/ns/pid")
    except OSError:
        return []
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") == ns and not _zombie(entry.name):
                members.append(int(entry.name))
        except OSError:
            continue
    return members


def _zombie(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True
