"""Agent runners (DESIGN §5): how to start each agent CLI and how to tell if it worked.

A runner turns a run (the brief, the workspace, the output folder) into an argv (a
list, never a shell string) and, afterwards, judges the run: exit status 0 is
necessary, not sufficient, because agent CLIs exit 0 on failure (Claude Code prints
``is_error: true``, Codex reports ``turn.failed``, OpenClaw prints an empty payload).
Exit 75 (EX_TEMPFAIL, e.g. a rate limit) is a temporary failure: requeued without
spending an attempt.

The built-in presets register in the same registry a board's own runners do
(``runners:`` in mc.yaml: ``{preset: claude, args: [...]}`` or ``{command: [...]}``).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mc.board.config import Caps
from mc.errors import ConfigError, TooMuchOutput, UnsafeOutput
from mc.pipeline.execute import StopReason

EX_TEMPFAIL = 75
# The demo runner's agent: a stdlib-only script run by path (python -I), so inside the
# sandbox it needs the interpreter and this one file, not the mc package.
DEMO_AGENT = Path(__file__).parent.parent / "demo_agent.py"


class Run(NamedTuple):
    """What a runner needs to build its command."""

    project_id: str
    job_id: int
    kind: str  # work | review
    archetype: str
    model: str | None
    prompt: str  # the rendered brief
    prompt_file: Path
    output_dir: Path
    workspace: Path


class Outcome(NamedTuple):
    """What a finished agent left for its judge: the exit status and both streams."""

    code: int
    stdout: str
    stderr: str = ""


class Usage(NamedTuple):
    """Tokens and cost of one run, as the CLI reported them (zeros when it did not)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class Verdict(NamedTuple):
    """How a finished run went."""

    ok: bool
    error: str = ""
    temporary: bool = False  # requeued without spending an attempt (a rate limit)
    summary: str = ""
    permanent: bool = False  # dead at once: retrying cannot help (not logged in)
    usage: Usage | None = None
    stopped: StopReason | None = None  # the run was stopped before its agent ended (error says so)


LineReader = Callable[[str], "str | None"]  # one output line -> it in words (None: as is)


def plain_reader() -> LineReader:
    """Plain output is already what a person reads."""
    return lambda line: None


class Runner(NamedTuple):
    """A runner: a command template, extra arguments, and a judge of its output.

    The brief reaches the agent by file (``{prompt_file}``) or on stdin (``stdin``),
    never in argv: a brief can pass one argument's 128 KiB limit, and argv is visible
    to every local user in /proc/*/cmdline.
    """

    name: str
    command: tuple[str, ...]  # placeholders: {prompt_file} {output_dir} {model} {workspace} ...
    judge: Callable[[Run, Outcome], Verdict]
    model_args: tuple[str, ...] = ()  # added when the archetype names a model: "{model}"
    args: tuple[str, ...] = ()
    spawns: bool = True  # False: the handoff runner waits for someone to report back
    env: Mapping[str, str] = {}
    # What the sandbox gives it (mc.sandbox): HOME-relative config and credentials,
    # copied into the agent's private HOME; absolute paths read-only and read-write.
    home: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    install: str = ""  # how to install its program, for the "not installed" message
    stdin: bool = False  # the brief on the agent's stdin
    # A reader for one run's output: each line (a CLI's stream event) in words.
    reader: Callable[[], LineReader] = plain_reader
    # A line that says the CLI is stuck retrying something temporary (a rate limit) on
    # its own for minutes: mc stops it there and requeues the job with its own backoff.
    gives_up: Callable[[str, str], bool] | None = None  # (stream, line)
    # Its CLI writes where it works, not elsewhere (aider): outside coder work, the
    # files it leaves in its workspace count as its output (verdict.json included).
    collect_workspace: bool = False
    # Writes the CLI's own settings into the agent's private HOME (sandboxed runs only).
    prepare: Callable[[Run, Path, Mapping[str, str]], None] | None = None

    def program_files(self) -> list[str]:
        """The command template with the program placeholders filled in ({python},
        {demo_agent}): the files it names are the runner's own, never the run's."""
        own = {"python": sys.executable, "demo_agent": str(DEMO_AGENT)}
        return [_fill(part, own) for part in (*self.command, *self.args)]

    def argv(self, run: Run) -> list[str]:
        values = {
            "prompt_file": str(run.prompt_file),
            "output_dir": str(run.output_dir),
            "workspace": str(run.workspace),
            "model": run.model or "",
            "project_id": run.project_id,
            "job_id": str(run.job_id),
            "archetype": run.archetype,
            "kind": run.kind,
            "python": sys.executable,
            "demo_agent": str(DEMO_AGENT),
        }
        out = [_fill(part, values) for part in self.command]
        if run.model:
            out += [_fill(part, values) for part in self.model_args]
        out += [_fill(part, values) for part in self.args]
        return out


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _fill(template: str, values: Mapping[str, str]) -> str:
    """Substitute {name} placeholders in one pass: a value is never looked into (a
    project named "{model}" stays that), and nothing is parsed (no shell)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# ---------------------------------------------------------------------- judges


def check_exit(run: Run, outcome: Outcome) -> Verdict | None:
    """What every runner checks first: exit status, and a reviewer's verdict.json."""
    code = outcome.code
    if code == EX_TEMPFAIL:
        return Verdict(False, f"temporary failure (exit {EX_TEMPFAIL})", temporary=True)
    if code != 0:
        said = tail(outcome.stdout)
        if said == "no output":
            said = tail(outcome.stderr)
        return Verdict(False, f"exited with status {code}: {said}")
    if run.kind == "review":
        verdict = read_verdict(run.output_dir)
        if isinstance(verdict, str):
            return Verdict(False, verdict)
    return None


def read_verdict(output_dir: Path) -> dict[str, str] | str:
    """The reviewer's verdict.json, or why it is not usable."""
    try:
        data = json.loads(_read_plain_file(output_dir / "verdict.json", 1_000_000))
    except FileNotFoundError:
        return "the reviewer wrote no verdict.json"
    except UnsafeOutput as exc:
        return str(exc)
    except (ValueError, OSError) as exc:
        return f"verdict.json is not valid JSON: {exc}"
    if not isinstance(data, dict) or data.get("verdict") not in ("pass", "fail"):
        return 'verdict.json must be {"verdict": "pass"|"fail", "notes": "..."}'
    notes = data.get("notes", "")
    return {"verdict": str(data["verdict"]), "notes": notes if isinstance(notes, str) else ""}


def _read_plain_file(path: Path, cap: int | None = None) -> bytes:
    """A regular file's bytes, never through a symlink (the worker reads what an agent
    left, with more rights than the agent had)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeOutput(f"{path.name} is a symlink: agents leave plain files") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafeOutput(f"{path.name} is not a plain file")
        return f.read(cap) if cap is not None else f.read()


def read_artifacts(output_dir: Path, caps: Caps | None = None) -> dict[str, bytes]:
    """Every file an agent left in its output folder (relative path -> bytes).

    Symlinks and special files (fifos, sockets, devices) are refused, not followed: a
    link to ~/.ssh/id_ed25519 must never become an artifact. So is more than ``caps``
    allow (mc.yaml's ``artifacts:``), judged by size before anything is read.
    """
    caps = caps or Caps()
    found: dict[str, bytes] = {}
    total = 0
    for folder, dirs, files in os.walk(output_dir, followlinks=False):
        base = Path(folder)
        for name in sorted(dirs):
            if (base / name).is_symlink():
                link = (base / name).relative_to(output_dir).as_posix()
                raise UnsafeOutput(f"artifact {link} is a symlink: agents leave plain files")
        for name in sorted(files):
            path = base / name
            rel = path.relative_to(output_dir).as_posix()
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise UnsafeOutput(f"artifact {rel} is a symlink: agents leave plain files")
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeOutput(f"artifact {rel} is not a plain file")
            if len(found) >= caps.max_files:
                raise TooMuchOutput(
                    f"more than {caps.max_files} artifacts (artifacts.max_files in mc.yaml)"
                )
            if info.st_size > caps.max_file_bytes:
                raise TooMuchOutput(
                    f"artifact {rel} is {_mb(info.st_size)}, over the cap of "
                    f"{_mb(caps.max_file_bytes)} (artifacts.max_file_mb in mc.yaml)"
                )
            total += info.st_size
            if total > caps.max_total_bytes:
                raise TooMuchOutput(
                    f"the artifacts are over {_mb(caps.max_total_bytes)} in all "
                    "(artifacts.max_total_mb in mc.yaml)"
                )
            found[rel] = _read_plain_file(path, caps.max_file_bytes + 1)
            if len(found[rel]) > caps.max_file_bytes:  # it grew after lstat
                raise TooMuchOutput(f"artifact {rel} is over the cap of {_mb(caps.max_file_bytes)}")
    return dict(sorted(found.items()))


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[:500] or "no output"


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def one_line(text: str, limit: int = 300) -> str:
    """A CLI's message as one line for a job's error: no colours, no line breaks."""
    flat = " ".join(ANSI.sub("", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def events(outcome: Outcome) -> list[dict[str, Any]]:
    """The JSON objects a CLI printed, on stdout then stderr (some put errors there)."""
    return [*json_objects(outcome.stdout), *json_objects(outcome.stderr)]


def json_objects(output: str) -> list[dict[str, Any]]:
    """JSON objects in the output: the whole of it, or one per line (JSONL)."""
    text = output.strip()
    try:
        whole = json.loads(text)
        return [whole] if isinstance(whole, dict) else []
    except ValueError:
        pass
    found = []
    for line in text.splitlines():
        obj = json_object(line)
        if obj is not None:
            found.append(obj)
    return found


def json_object(line: str) -> dict[str, Any] | None:
    """One line of a CLI's stream as the JSON object it is (None: not one)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


# ---------------------------------------------------------------------- the registry

PRESETS: dict[str, Runner] = {}


def register(runner: Runner) -> Runner:
    PRESETS[runner.name] = runner
    return runner


def missing(runner: Runner, path: str | None = None) -> str | None:
    """Why the runner's program cannot start here (None: it can): "claude: not installed
    (npm install -g @anthropic-ai/claude-code)", said before any attempt is spent."""
    if not runner.spawns:
        return None
    program = runner.program_files()[0]
    if "{" in program:
        return None  # the program is a placeholder filled per run
    found = shutil.which(program, path=path if path is not None else os.environ.get("PATH"))
    if found is not None:
        return None
    how = f" ({runner.install})" if runner.install else ""
    return f"{program}: not installed{how}"


def resolve(
    name: str,
    runners: Mapping[str, Mapping[str, Any]],
    command: Sequence[str] = (),
    args: Sequence[str] = (),
) -> Runner:
    """The runner an archetype names: a board's own (mc.yaml `runners:`) or a preset."""
    spec = runners.get(name)
    if spec is not None:
        base = PRESETS.get(str(spec.get("preset", "command")))
        if base is None:
            raise ConfigError(f"runners.{name}.preset: no preset {spec.get('preset')!r}")
        runner = base._replace(name=name)
        if spec.get("command"):
            runner = runner._replace(command=tuple(spec["command"]))
        runner = runner._replace(args=tuple(spec.get("args", ())) + tuple(args))
        if spec.get("env"):  # added to the preset's own
            extra = {str(k): str(v) for k, v in dict(spec["env"]).items()}
            runner = runner._replace(env={**runner.env, **extra})
        runner = runner._replace(
            home=runner.home + tuple(spec.get("home", ())),
            paths=runner.paths + tuple(spec.get("paths", ())),
            writable=runner.writable + tuple(spec.get("writable", ())),
        )
    else:
        found = PRESETS.get(name)
        if found is None:
            known = ", ".join(sorted({*PRESETS, *runners}))
            raise ConfigError(f"unknown runner {name!r}: choose one of {known}")
        runner = found._replace(args=tuple(args))
    if command:
        runner = runner._replace(command=tuple(command))
    if spec is not None and "stdin" in spec:
        runner = runner._replace(stdin=bool(spec["stdin"]))
    if runner.spawns and not runner.command:
        raise ConfigError(f"runner {name!r} needs a command (an argv list)")
    if any("{prompt}" in part for part in (*runner.command, *runner.args)):
        raise ConfigError(
            f"runner {name!r}: {{prompt}} would put the brief in argv (visible to every local "
            "user, and refused past 128 KiB): use {prompt_file}, or stdin: true"
        )
    return runner
