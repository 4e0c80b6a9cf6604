"""Confined agents (DESIGN §6), with real bwrap and real processes: a hostile agent tries
what would get its own work approved — the person's keys, the service key, the board,
the database, mc approve/token/login, writes outside its folders, children that outlive
it — and every attempt fails, while its legitimate output still becomes artifacts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mc.board.board import Board
from mc.mirror import db
from mc.pipeline import sandbox
from mc.pipeline.execute import agent_env, run_agent

from ..conftest import alive, git, marked_processes, run_mc
from .test_worker import Services, _queue, _wait

ATTACK = Path(__file__).parents[1] / "attack_agent.py"
ARCHETYPES = ("coder", "researcher", "writer", "ops", "reviewer")


def _attack_config(board_path: Path, extra: str = "") -> None:
    runner = (
        f"{{runner: command, command: [{sys.executable}, {ATTACK}], timeout: 60, max_attempts: 1}}"
    )
    text = "branch: main\narchetypes:\n" + "".join(f"  {a}: {runner}\n" for a in ARCHETYPES)
    (board_path / "mc.yaml").write_text(text + extra)
    git(board_path, "commit", "-q", "-S", "-am", "the hostile agent runs everything")


def _person_key(home: Path) -> Path:
    ssh = home / ".ssh"
    ssh.mkdir(exist_ok=True)
    key = ssh / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def _targets(board_path: Path, database_url: str, pid: str) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlparse

    socket_dir = parse_qs(urlparse(database_url).query)["host"][0]
    return {
        "home": str(Path.home()),
        "board": str(board_path),
        "service_key": str(board_path / ".mc" / "service_key"),
        "socket_dir": socket_dir,
        "mc": str(Path(sys.executable).with_name("mc")),
        "project": pid,
        "host_pid": os.getpid(),
    }


def _count(board_path: Path) -> int:
    return int(git(board_path, "rev-list", "--count", "HEAD").stdout)


def _what_worked(report: str) -> list[str]:
    return [r["name"] for r in json.loads(report) if r["worked"]]


def _gone(mark: str, seconds: float = 10) -> list[int]:
    """The agent's leftover processes (none, once they are gone)."""
    deadline = time.monotonic() + seconds
    while True:
        left = [p for p in marked_processes("ATTACK_MARK", mark) if _is_agent(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _is_agent(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"attack_agent.py" in cmdline or cmdline.startswith(b"sleep\0")


# ---------------------------------------------------------------------- the pipeline


def test_a_hostile_agent_in_the_pipeline_reaches_nothing(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sandbox.unavailable() is None, sandbox.unavailable()
    _person_key(Path.home())
    _attack_config(board_path)
    mark = uuid.uuid4().hex
    monkeypatch.setenv("ATTACK_MARK", mark)
    monkeypatch.setenv("ATTACK", json.dumps(_targets(board_path, database_url, "p")))
    before = _count(board_path)
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path, "p")
        assert pid == "p"
        _wait(
            database_url,
            "SELECT 1 FROM projects WHERE id = %s AND lane = 'review' AND ready_for_human",
            (pid,),
            seconds=60,
        )
    finally:
        services.close()
    with Board.open(board_path) as board:
        entry = board.get(pid)
        assert entry.lane.value == "review"  # not done: only the person approves
        work = board.read_blob(f"{board.tip}:artifacts/{pid}/attacks.json")
        report = board.read_blob(f"{board.tip}:artifacts/{pid}/report.md")
    assert work is not None and report is not None  # the legitimate output landed
    assert _what_worked(work.decode()) == []
    # The reviewer (the same hostile agent) reached nothing either: its verdict passed
    # through the pipeline, and nothing else of it landed.
    assert run_mc(board_path, "verify").returncode == 0
    with db.connect(database_url) as conn:
        tokens = conn.execute("SELECT count(*) AS n FROM tokens").fetchone()
        assert tokens is not None and tokens["n"] == 0  # no human token was minted
    assert not (Path.home() / "planted").exists()
    assert not (board_path / "planted").exists()
    # The commits since: the person's new project, then only the pipeline's own steps.
    since = git(board_path, "log", f"HEAD~{_count(board_path) - before}..HEAD",
                "--format=%(trailers:key=Mc-Action,valueonly)").stdout.split()  # fmt: skip
    assert since == ["review", "complete", "dispatch", "create"]
    assert _gone(mark) == [], "the agent's children outlived its job"
    # The job folders are outside the board, and a finished job's folder is gone.
    assert not (board_path / ".mc" / "work").exists()
    assert list(sandbox.jobs_root(board_path).iterdir()) == []


def test_an_artifact_that_is_a_symlink_to_a_key_is_refused(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = _person_key(Path.home())
    script = tmp_path / "linker.py"
    script.write_text(
        "import os\n"
        f"os.symlink({str(key)!r}, os.path.join(os.environ['MC_OUTPUT_DIR'], 'notes.txt'))\n"
    )
    runner = f"{{runner: command, command: [{sys.executable}, {script}], max_attempts: 1}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n" + "".join(f"  {a}: {runner}\n" for a in ARCHETYPES)
    )
    git(board_path, "commit", "-q", "-S", "-am", "an agent that links a key")
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path)
        row = _wait(
            database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,)
        )
    finally:
        services.close()
    assert row["last_error"] == "artifact notes.txt is a symlink: agents leave plain files"
    tree = git(board_path, "ls-tree", "-r", "--name-only", "HEAD").stdout
    assert "notes.txt" not in tree
    secret = key.read_text()
    assert secret not in git(board_path, "log", "-p", "--all").stdout


# ---------------------------------------------------------------------- the sandbox itself


def _plan(folder: Path, command: list[str]) -> sandbox.Plan:
    for name in ("ws", "out", "home"):
        (folder / name).mkdir(parents=True)
    brief = folder / "brief.md"
    brief.write_text("# Brief\n")
    return sandbox.Plan(
        tuple(command),
        folder / "ws",
        folder / "out",
        brief,
        folder / "home",
        read_only=(
            *sandbox.runtime_paths(command, os.environ.get("PATH")),
            *sandbox.command_files(command),
        ),
    )


def _run_confined(plan: sandbox.Plan, extra_env: dict[str, str], **kw: Any) -> Any:
    user = sandbox.agent_user()
    sandbox.hand_over([plan.brief.parent], user)
    env = sandbox.environment(agent_env(extra_env), plan.home, user)
    lines: list[str] = []
    result = run_agent(
        sandbox.argv(plan, user),
        cwd=plan.workspace,
        env=env,
        timeout=kw.pop("timeout", 60),
        on_output=lambda _s, text: lines.append(text),
        beat=kw.pop("beat", lambda: None),
        beat_every=0.2,
        lease=kw.pop("lease", 30),
        grace=0.5,
        sandboxed=True,
    )
    sandbox.take_back([plan.brief.parent], user)
    return result, "".join(lines)


def test_the_argv_is_a_list_with_every_namespace_and_no_board(tmp_path: Path) -> None:
    plan = _plan(tmp_path / "job", ["agent", "--flag"])
    argv = sandbox.argv(plan, sandbox.agent_user())
    assert argv[0].endswith("bwrap") and argv[-2:] == ["agent", "--flag"]
    for flag in ("--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--chdir") + 1] == str(plan.workspace)
    assert str(Path.home()) not in argv  # never the person's HOME itself
    binds = {argv[i + 1]: argv[i] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")}
    assert binds[str(plan.workspace)] == "--bind" and binds[str(plan.brief)] == "--ro-bind"


def test_a_sandboxed_agent_sees_only_its_folders_and_leaves_nothing_behind(
    tmp_path: Path, board_path: Path
) -> None:
    _person_key(Path.home())
    plan = _plan(tmp_path / "job", [sys.executable, str(ATTACK)])
    mark = uuid.uuid4().hex
    targets = {
        "home": str(Path.home()),
        "board": str(board_path),
        "service_key": str(board_path / ".mc" / "service_key"),
        "host_pid": os.getpid(),
    }
    started = time.monotonic()
    result, output = _run_confined(
        plan,
        {"ATTACK": json.dumps(targets), "ATTACK_MARK": mark, "MC_OUTPUT_DIR": str(plan.output)},
    )
    assert result.code == 0, output
    assert _what_worked((plan.output / "attacks.json").read_text()) == []
    assert (plan.output / "report.md").exists()
    # setsid, nohup and a double fork: all gone with the job (the PID namespace ended).
    assert _gone(mark, seconds=2) == []
    assert time.monotonic() - started < 30


def test_a_sandboxed_agent_runs_unprivileged(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os\n"
        "ignored = int(next(l for l in open('/proc/self/status') if l.startswith('SigIgn'))"
        ".split()[1], 16)\n"
        "print(json.dumps({'uid': os.getuid(), 'home': os.environ['HOME'],"
        " 'tmp': os.listdir('/tmp'), 'pid': os.getpid(), 'cwd': os.getcwd(),"
        " 'ignored': ignored}))\n"
    )
    plan = _plan(tmp_path / "job", [sys.executable, str(probe)])
    _, output = _run_confined(plan, {})
    seen = json.loads(output.strip().splitlines()[-1])
    assert seen["uid"] != 0
    if os.geteuid() == 0:
        user = sandbox.agent_user()
        assert user is not None and seen["uid"] == user.uid
    assert seen["home"] == str(plan.home)
    # A private /tmp: nothing in it but the way to the job's own folders (when they are
    # under /tmp, as in this test).
    bound = [plan.home, *plan.read_only]
    own = sorted({p.parts[2] for p in bound if len(p.parts) > 2 and p.parts[1] == "tmp"})
    assert sorted(seen["tmp"]) == own
    assert seen["cwd"] == str(plan.workspace)
    # SIGINT, SIGHUP and SIGTERM reach it as they would any program (the guard that
    # ignores them for itself must not pass that on): stopping it gently works.
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        assert not seen["ignored"] & (1 << (signum - 1)), signum
    assert seen["pid"] < 10  # a PID namespace of its own


@pytest.mark.parametrize("who", ["guard", "worker and guard"])
def test_killing_the_guard_ends_every_process_of_the_agent(tmp_path: Path, who: str) -> None:
    """SIGKILL of the guard (alone, or with its worker): --die-with-parent ends the
    namespace, children in new sessions included."""
    leave = "setsid nohup sleep 300 >/dev/null 2>&1 & sleep 301"
    plan = _plan(tmp_path / "job", ["/bin/sh", "-c", leave])
    mark = uuid.uuid4().hex
    user = sandbox.agent_user()
    sandbox.hand_over([plan.brief.parent], user)
    env = sandbox.environment(agent_env({"ATTACK_MARK": mark}), plan.home, user)
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from pathlib import Path
        from mc.pipeline.execute import run_agent
        run_agent({sandbox.argv(plan, user)!r}, cwd=Path({str(plan.workspace)!r}),
                  env={env!r}, timeout=3600, on_output=lambda s, t: None,
                  beat=lambda: None, beat_every=0.2, lease=3600, sandboxed=True)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 20
    while len([p for p in marked_processes("ATTACK_MARK", mark) if _sleeps(p)]) < 2:
        assert time.monotonic() < deadline, "the agent did not start"
        time.sleep(0.05)
    guards = [p for p in marked_processes("ATTACK_MARK", mark) if _is_guard(p)]
    assert len(guards) == 1
    os.kill(guards[0], 9)
    if who == "worker and guard":
        os.kill(worker.pid, 9)
    left: list[int] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in marked_processes("ATTACK_MARK", mark) if _sleeps(p)]
        if not left:
            break
        time.sleep(0.05)
    worker.kill()
    worker.wait()
    assert left == []


def _sleeps(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0")
    except OSError:
        return False


def _is_guard(pid: int) -> bool:
    try:
        return b"mc.pipeline.guard" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# ---------------------------------------------------------------------- refusals


def test_without_bwrap_the_worker_refuses_to_spawn_and_says_why(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "BWRAP", "bwrap-is-not-installed-here")
    sandbox.unavailable.cache_clear()
    try:
        reason = sandbox.unavailable()
        assert reason is not None and reason.startswith("bwrap is not installed")
        _attack_config(board_path)
        services = Services(board_path, database_url)
        try:
            pid = _queue(board_path)
            row = _wait(
                database_url, "SELECT * FROM jobs WHERE project_id = %s AND state = 'dead'", (pid,)
            )
        finally:
            services.close()
        assert row["attempts"] <= 1  # permanent: no retries that cannot help
        assert row["last_error"] == f"the sandbox cannot run here: {reason}"
        assert "\n" not in row["last_error"]
        with Board.open(board_path) as board:
            assert board.get(pid).project.get("needs_human")  # type: ignore[union-attr]
    finally:
        sandbox.unavailable.cache_clear()


def test_sandbox_off_runs_unconfined_and_says_so(
    board_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    script = tmp_path / "free.py"
    script.write_text(f"open({str(seen)!r}, 'w').write('outside')\n"
                      "import os; open(os.path.join(os.environ['MC_OUTPUT_DIR'], 'r.md'), 'w')"
                      ".write('ok')\n")  # fmt: skip
    runner = f"{{runner: command, command: [{sys.executable}, {script}], max_attempts: 1}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\nsandbox: false\narchetypes:\n"
        + "".join(f"  {a}: {runner}\n" for a in ARCHETYPES if a != "reviewer")
    )
    git(board_path, "commit", "-q", "-S", "-am", "unconfined agents")
    services = Services(board_path, database_url)
    try:
        pid = _queue(board_path)
        _wait(
            database_url,
            "SELECT 1 FROM jobs WHERE project_id = %s AND kind = 'work' AND state = 'succeeded'",
            (pid,),
        )
    finally:
        services.close()
    assert seen.read_text() == "outside"  # it could write where a sandbox forbids
    with db.connect(database_url) as conn:
        log = "".join(
            r["text"] for r in conn.execute("SELECT text FROM job_log ORDER BY id").fetchall()
        )
    assert "sandbox: off (mc.yaml): this agent runs unconfined" in log


# ---------------------------------------------------------------------- an unprivileged person


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the case as another user: needs root")
def test_the_sandbox_confines_an_unprivileged_persons_agent(tmp_path: Path) -> None:
    """The same attack as the person ``nobody`` (no root anywhere): bwrap in a user
    namespace of its own, the agent as that user."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    assert system_python, "the unprivileged case runs on the system's python3"
    base = Path("/var/tmp") / f"mc-unprivileged-{uuid.uuid4().hex[:8]}"
    try:
        code = base / "code"
        shutil.copytree(Path(__file__).parents[2] / "mc", code / "mc",
                        ignore=shutil.ignore_patterns("__pycache__", "web", "cli"))  # fmt: skip
        shutil.copy(ATTACK, code / "attack_agent.py")
        home = base / "home"
        (home / ".ssh").mkdir(parents=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(home / ".ssh" / "id_ed25519")], check=True)  # fmt: skip
        secret = base / "board"
        (secret / ".mc").mkdir(parents=True)
        (secret / ".mc" / "service_key").write_text("service key\n")
        (secret / "mc.yaml").write_text("branch: main\n")
        mark = uuid.uuid4().hex
        script = code / "run.py"
        script.write_text(UNPRIVILEGED.format(base=str(base), python=system_python, mark=mark))
        for path in [base, *base.rglob("*")]:
            os.lchown(path, 65534, 65534)
        proc = subprocess.run(
            [system_python, str(script)],
            user=65534,
            group=65534,
            extra_groups=[],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONPATH": str(code)},
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["code"] == 0, proc.stdout + proc.stderr
        assert report["worked"] == [], report
        assert report["uid"] == 65534
        assert _gone(mark, seconds=3) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


UNPRIVILEGED = """
import json, os, sys
from pathlib import Path
from mc.pipeline import sandbox
from mc.pipeline.execute import agent_env, run_agent

base = Path({base!r})
job = base / "job"
for name in ("ws", "out", "home"):
    (job / name).mkdir(parents=True)
(job / "brief.md").write_text("# Brief\\n")
assert sandbox.agent_user() is None and sandbox.unavailable() is None, sandbox.unavailable()
command = [{python!r}, str(base / "code" / "attack_agent.py")]
plan = sandbox.Plan(tuple(command), job / "ws", job / "out", job / "brief.md", job / "home",
                    read_only=(*sandbox.runtime_paths(command, "/usr/bin:/bin"),
                               *sandbox.command_files(command)))
targets = {{"home": str(base / "home"), "board": str(base / "board"),
            "service_key": str(base / "board" / ".mc" / "service_key"), "host_pid": os.getpid()}}
env = sandbox.environment(
    agent_env({{"ATTACK": json.dumps(targets), "ATTACK_MARK": {mark!r},
                "MC_OUTPUT_DIR": str(job / "out")}}), job / "home", None)
result = run_agent(sandbox.argv(plan, None), cwd=job / "ws", env=env, timeout=60,
                   on_output=lambda s, t: sys.stderr.write(t), beat=lambda: None,
                   beat_every=0.2, sandboxed=True)
attacks = json.loads((job / "out" / "attacks.json").read_text())
print(json.dumps({{"code": result.code, "uid": os.getuid(),
                  "worked": [a["name"] for a in attacks if a["worked"]]}}))
"""


def test_alive_helper_reads_zombies_as_gone() -> None:
    proc = subprocess.Popen(["true"])
    time.sleep(0.3)  # exited, not yet reaped: a zombie
    assert not alive(proc.pid)
    proc.wait()


# ---------------------------------------------------------------------- beyond the sandbox


def test_an_agent_that_rewrites_its_worktrees_git_file_cannot_steer_the_commit(
    board_path: Path, database_url: str, tmp_path: Path
) -> None:
    """The agent owns its worktree: it points .git at the board (or makes it a folder
    with a config that runs commands). mc puts git's own pointer back before it commits."""
    from .test_worker import _coder_project, _workspace

    workspace = _workspace(tmp_path)
    hijack = tmp_path / "hijack.py"
    hijack.write_text(
        "import os\n"
        "open('FIXED.txt', 'w').write('fixed\\n')\n"
        "os.unlink('.git')\n"
        f"open('.git', 'w').write('gitdir: {board_path}/.git\\n')\n"
    )
    runner = f"{{runner: command, command: [{sys.executable}, {hijack}], max_attempts: 1}}"
    review = f"{{runner: command, command: [{sys.executable}, {ATTACK}], max_attempts: 1}}"
    (board_path / "mc.yaml").write_text(
        "branch: main\narchetypes:\n"
        + "".join(f"  {a}: {runner}\n" for a in ARCHETYPES if a != "reviewer")
        + f"  reviewer: {review}\n"
    )
    git(board_path, "commit", "-q", "-S", "-am", "a hijacking coder")
    board_head = git(board_path, "rev-parse", "HEAD").stdout
    services = Services(board_path, database_url)
    try:
        pid = _coder_project(board_path, workspace)
        _wait(database_url, "SELECT 1 FROM projects WHERE id = %s AND lane = 'review'", (pid,))
    finally:
        services.close()
    branch = f"mc/{pid}"
    assert git(workspace, "show", f"{branch}:FIXED.txt").stdout == "fixed\n"
    # The board got only the pipeline's own commits, none of "mc: work of job".
    subjects = git(board_path, "log", "--format=%s", f"{board_head.strip()}..HEAD").stdout
    assert "mc: work of job" not in subjects
    assert run_mc(board_path, "verify").returncode == 0


def test_no_other_local_user_reaches_the_embedded_database(tmp_path: Path) -> None:
    from mc.mirror.embedded import Cluster

    cluster = Cluster(tmp_path / "pg")
    cluster.init(fast=True)
    hba = (cluster.data / "pg_hba.conf").read_text()
    assert "trust" not in hba and "peer map=mc" in hba
    # A cluster made before (trust for every local connection) is taken back at start.
    (cluster.data / "pg_hba.conf").write_text("local all all trust\n")
    cluster.start()
    try:
        assert "trust" not in (cluster.data / "pg_hba.conf").read_text()
        psql = shutil.which("psql") or "/usr/bin/psql"
        conninfo = f"host={cluster.socket_dir} dbname=postgres user={cluster.superuser}"
        own = subprocess.run([psql, conninfo, "-Atc", "select 1"], capture_output=True, text=True)
        assert own.stdout.strip() == "1", own.stderr  # the owner connects
        if os.geteuid() == 0:  # another local user does not, as superuser or otherwise
            other = subprocess.run(
                [psql, conninfo, "-Atc", "select 1"], capture_output=True, text=True,
                user=65534, group=65534, extra_groups=[], cwd="/",
            )  # fmt: skip
            assert other.returncode != 0 and other.stdout == ""
        # Not even the owner may take another role than its own mapped one.
        other_role = conninfo.replace(f"user={cluster.superuser}", "user=mallory")
        refused = subprocess.run([psql, other_role, "-Atc", "select 1"], capture_output=True,
                                 text=True)  # fmt: skip
        assert refused.returncode != 0 and "authentication failed" in refused.stderr
    finally:
        cluster.stop("immediate")


def test_mc_doctor_shows_what_an_agent_would_see(board_path: Path) -> None:
    shown = run_mc(board_path, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(shown.stdout)}
    box = checks["sandbox"]
    assert box["ok"] and not box["warning"], box
    assert "it cannot: read ~/.ssh" in " ".join(box["details"])
    assert "read the board" in " ".join(box["details"])
    assert checks["database"]["ok"]
    assert checks["signing"]["summary"] == "you approve as alice@example.com (your git signing key)"
    # The skeleton's claude and gemini are not installed here: said with the command.
    coder = checks["agent coder"]
    if shutil.which("claude") is None:
        assert not coder["ok"]
        assert (
            coder["summary"] == "claude: not installed (npm install -g @anthropic-ai/claude-code)"
        )
        assert shown.returncode == 1
    text = run_mc(board_path, "doctor")
    assert text.stdout.startswith("ok    sandbox")


def test_mc_doctor_says_loudly_when_there_is_no_sandbox(board_path: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH where everything but bwrap is
    bin_dir.mkdir()
    for tool in ("git", "ssh-keygen", "setpriv", "true"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    shown = run_mc(board_path, "doctor", env={"PATH": str(bin_dir)})
    assert shown.returncode == 1
    first = shown.stdout.splitlines()[0]
    assert first.startswith("FAIL  sandbox") and "bwrap is not installed" in first
