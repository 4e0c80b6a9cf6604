"""The board's settings: ``mc.yaml``, read once.

Every key is documented in ``DOCS`` and listed in the README (tests/test_docs.py checks
both against the schema). The file is read with the same strict loader as project
files, so a typo is a clear ``mc.yaml:line:col: key: reason``. This machine's own
settings, the ``MC_*`` environment variables, are ``mc.settings``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from mc.board import schema as s
from mc.board.layout import CONFIG_FILE, LANE_NAMES_ORDERED, Lane
from mc.board.projectfile import ARCHETYPE_PATTERN, INTEGRATE_MODES
from mc.board.yamlsafe import parse
from mc.errors import ConfigError

# Bump when the settings or their checks change: checked values are cached by blob.
SCHEMA_VERSION = 4
DEFAULT_BRANCH = "main"
REVIEWER = "reviewer"

_ARGV = s.list_of(s.text(4_000), 200)
# What the person can be told about (notifications: in mc.yaml, mc.mirror.outbox).
NOTIFY_EVENTS = ("ready_for_human", "needs_human", "dead", "approved", "budget", "handoff")


def _money(value: Any) -> float:
    """A sum in US dollars: a number, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise s.Invalid(f"expected an amount in US dollars (0 or more), got {s.kind(value)}")
    return float(value)


_ARCHETYPE_FIELDS: dict[str, s.Check] = {
    "runner": s.text(64, pattern=r"[a-z][a-z0-9_-]{0,63}"),
    "model": s.text(200),
    "timeout": s.integer(1, 7 * 24 * 3600),
    "max_attempts": s.integer(1, 100),
    "max_temporary": s.integer(1, 10_000),
    "output": s.boolean,
    "concurrency": s.integer(1, 1000),
    "command": _ARGV,
    "args": _ARGV,
    "template": s.text(64),
    "budget": s.Block({"daily_usd": _money}),
    "integrate": s.one_of(*INTEGRATE_MODES),
    "integrate_cleanup": s.boolean,
    # A remote name, never an option or a URL that runs commands (checked again before use).
    "integrate_remote": s.text(100, pattern=r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}"),
}


def _on_off(value: Any) -> bool:
    """true/false, or the words "on"/"off" (quoted: YAML 1.1 reads bare off as false)."""
    if isinstance(value, bool):
        return bool(value)
    if value in ("on", "off"):
        return bool(value == "on")
    raise s.Invalid(f'expected true or false ("on" or "off"), got {s.kind(value)}')


_FIELDS: dict[str, s.Check] = {
    "branch": s.text(200, pattern=r"[A-Za-z0-9._/-]+"),
    "archetypes": s.Block(
        {},
        extra=s.Block(_ARCHETYPE_FIELDS, frozenset({"runner"})),
    ),
    "runners": s.Block(
        {},
        extra=s.Block(
            {
                "preset": s.text(64),
                "command": _ARGV,
                "args": _ARGV,
                "env": s.Block({}, extra=s.text(4000)),
                "home": s.list_of(s.text(500), 100),
                "paths": s.list_of(s.text(4000), 100),
                "writable": s.list_of(s.text(4000), 100),
                "stdin": s.boolean,
            }
        ),
    ),
    "lanes": s.Block(
        {lane: s.Block({"wip_limit": s.integer(1, 100_000)}) for lane in LANE_NAMES_ORDERED}
    ),
    "review": s.Block({"rounds": s.integer(0, 100)}),
    "database_url": s.text(2_000),
    "on_escalation": _ARGV,
    "sandbox": _on_off,
    "budget": s.Block({"daily_usd": _money}),
    "artifacts": s.Block(
        {
            "max_files": s.integer(1, 100_000),
            "max_file_mb": s.integer(1, 10_000),
            "max_total_mb": s.integer(1, 100_000),
        }
    ),
    "notifications": s.list_of(
        s.Block(
            {
                "url": s.text(2_000),
                "events": s.list_of(s.one_of(*NOTIFY_EVENTS), len(NOTIFY_EVENTS)),
            },
            frozenset({"url"}),
        ),
        50,
    ),
}


# What each key means, said once: the README's table says it to people, and
# tests/test_docs.py checks that this, the README and the schema above name the same keys.
# <name> is a name of yours (an archetype, a runner), <lane> one of the lanes.
DOCS: Mapping[str, str] = MappingProxyType(
    {
        "branch": "The branch whose tip is the board.",
        "archetypes.<name>.runner": "What runs its work: a preset (claude, codex, gemini, "
        "aider, openclaw, command, handoff, demo) or one of runners:.",
        "archetypes.<name>.model": "The model its agent uses (a project's model wins).",
        "archetypes.<name>.timeout": "Seconds one run may take.",
        "archetypes.<name>.max_attempts": "Runs a job gets before it is dead and waits for you.",
        "archetypes.<name>.max_temporary": "Temporary failures (rate limits, exit 75) in a "
        "row before the job is dead and waits for you.",
        "archetypes.<name>.output": "A work run must leave a file in its output folder "
        "(unless it works in the project's workspace); false: it may leave nothing.",
        "archetypes.<name>.concurrency": "Its jobs that may run at once.",
        "archetypes.<name>.command": "The argv to run, with {prompt_file}, {output_dir}, "
        "{workspace}, {model}... (never the brief itself).",
        "archetypes.<name>.args": "Arguments added to its runner's.",
        "archetypes.<name>.template": "The template its new projects start from.",
        "archetypes.<name>.budget.daily_usd": "What its agents may cost in a day; then its "
        "new work waits.",
        "archetypes.<name>.integrate": "What approving its project does with the branch "
        "mc/<id> of the workspace: merge (fast-forward, else a merge commit, into the branch "
        "the worktree was made from), squash, pr (push it and open a pull request) or none "
        "(default: merge for projects with a workspace; a project's integrate: wins).",
        "archetypes.<name>.integrate_cleanup": "After integration, remove the project's "
        "worktree and delete its branch if (and only if) it is merged (default: true).",
        "archetypes.<name>.integrate_remote": "The workspace's remote that pr pushes to "
        "(default: origin).",
        "runners.<name>.preset": "The preset it builds on (default: command).",
        "runners.<name>.command": "Its argv, instead of the preset's.",
        "runners.<name>.args": "Arguments added to the preset's.",
        "runners.<name>.env": "Variables added to the agent's environment.",
        "runners.<name>.home": "Files (HOME-relative) copied into the agent's private HOME, "
        "beyond its preset's.",
        "runners.<name>.paths": "Absolute paths its sandbox shows read-only, beyond its preset's.",
        "runners.<name>.writable": "Absolute paths its sandbox shows read-write.",
        "runners.<name>.stdin": "The brief on the agent's stdin.",
        "lanes.<lane>.wip_limit": "The lane's work-in-progress limit.",
        "review.rounds": "Failing reviews that send work back before it waits for you.",
        "database_url": "The PostgreSQL (>= 14) of the mirror; null: the board's embedded "
        "cluster (MC_DATABASE_URL overrides it).",
        "on_escalation": "An argv run when the pipeline escalates (a job is dead, review "
        "rounds are spent), with MC_PROJECT_ID, MC_JOB_ID, MC_ESCALATION set.",
        "sandbox": 'false (or "off"): agents run unconfined.',
        "budget.daily_usd": "What all agents may cost in a day; then new work waits.",
        "artifacts.max_files": "Files one run may leave as artifacts (each is committed to "
        "the board); a run over a cap fails, naming it, and nothing is committed.",
        "artifacts.max_file_mb": "Megabytes one of them may have.",
        "artifacts.max_total_mb": "Megabytes they may have together.",
        "notifications": "Where to tell you: a list of {url, events}; url is an apprise URL "
        "(ntfy://, slack://, tgram://, mailto://, json://host/path, ...), events some of "
        "ready_for_human, needs_human, dead, approved, budget, handoff (default: all).",
    }
)


def schema_keys() -> list[str]:
    """Every key mc.yaml takes, dotted as in ``DOCS``: what the schema accepts."""
    return sorted(set(_keys(_FIELDS, "")))


def _keys(fields: Mapping[str, s.Check], prefix: str) -> Iterator[str]:
    for key, check in fields.items():
        path = prefix + key
        if not isinstance(check, s.Block):
            yield path
            continue
        if set(check.fields) == set(LANE_NAMES_ORDERED):  # one block per lane, all alike
            yield from _keys({"<lane>": check.fields[LANE_NAMES_ORDERED[0]]}, path + ".")
            continue
        yield from _keys(check.fields, path + ".")
        if isinstance(check.extra, s.Block):  # a mapping of your names to blocks
            yield from _keys(check.extra.fields, path + ".<name>.")
        elif not check.fields:  # a mapping of your names to values
            yield path


_EMPTY: Mapping[Any, Any] = MappingProxyType({})


class Archetype(NamedTuple):
    name: str
    runner: str
    model: str | None = None
    timeout: int = 3600
    max_attempts: int = 3
    max_temporary: int = 20  # temporary failures (rate limits, exit 75) before it is dead
    output: bool = True  # a work run must leave a file in its output folder (or a diff)
    concurrency: int | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    template: str | None = None
    daily_usd: float | None = None  # budget: new work waits once today's spend reaches it
    integrate: str = "merge"  # approving a project with a workspace: merge|squash|pr|none
    integrate_cleanup: bool = True  # then remove its worktree and its branch, if merged
    integrate_remote: str = "origin"  # where pr pushes the branch


class Caps(NamedTuple):
    """What one run may leave as artifacts: files, and bytes per file and in all."""

    max_files: int = 200
    max_file_bytes: int = 10 * 2**20
    max_total_bytes: int = 50 * 2**20


class Notify(NamedTuple):
    """One notification target: where (an apprise URL) and for which events."""

    url: str
    events: frozenset[str] = frozenset(NOTIFY_EVENTS)


class Config(NamedTuple):
    branch: str = DEFAULT_BRANCH
    archetypes: Mapping[str, Archetype] = _EMPTY
    runners: Mapping[str, Mapping[str, Any]] = _EMPTY
    wip_limits: Mapping[Lane, int] = _EMPTY
    review_rounds: int = 2
    database_url: str | None = None  # MC_DATABASE_URL wins over it (mc.mirror.target)
    on_escalation: tuple[str, ...] = ()
    sandbox: bool = True  # every spawned agent runs confined (mc.sandbox); off: unconfined
    daily_usd: float | None = None  # the board's budget for a day of agents (all archetypes)
    caps: Caps = Caps()
    notifications: tuple[Notify, ...] = ()

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def archetype(self, name: str) -> Archetype:
        try:
            return self.archetypes[name]
        except KeyError:
            raise ConfigError(
                f"unknown archetype {name!r}: {CONFIG_FILE} defines "
                f"{', '.join(sorted(self.archetypes)) or 'none'}"
            ) from None

    def work_archetypes(self) -> list[str]:
        """Archetypes a project may have (the reviewer is the pipeline's own)."""
        return sorted(a for a in self.archetypes if a != REVIEWER)


def load(data: bytes | str | None, name: str = CONFIG_FILE) -> Config:
    """Read mc.yaml (None: defaults)."""
    return from_values(read_values(data, name), name)


def read_values(data: bytes | str | None, name: str = CONFIG_FILE) -> dict[str, Any]:
    """mc.yaml's checked values (plain data: the board caches them by blob)."""
    if data is None:
        return {}
    parsed = parse(data, name, what="board config", error=ConfigError)
    values = s.validate(parsed, _FIELDS, (), name, ConfigError)
    for aname in values.get("archetypes") or {}:
        if not _valid_archetype_name(aname):
            raise ConfigError(f"{name}: archetypes.{aname}: must match {ARCHETYPE_PATTERN}")
    return values


def from_values(values: dict[str, Any], name: str = CONFIG_FILE) -> Config:
    archetypes = {}
    for aname, spec in (values.get("archetypes") or {}).items():
        archetypes[aname] = Archetype(
            name=aname,
            runner=spec["runner"],
            model=spec.get("model"),
            timeout=spec.get("timeout", 3600),
            max_attempts=spec.get("max_attempts", 3),
            max_temporary=spec.get("max_temporary", 20),
            output=spec.get("output", True),
            concurrency=spec.get("concurrency"),
            command=tuple(spec.get("command", ())),
            args=tuple(spec.get("args", ())),
            template=spec.get("template"),
            daily_usd=(spec.get("budget") or {}).get("daily_usd"),
            integrate=spec.get("integrate", "merge"),
            integrate_cleanup=spec.get("integrate_cleanup", True),
            integrate_remote=spec.get("integrate_remote", "origin"),
        )
    wip = {
        Lane(lane): spec["wip_limit"]
        for lane, spec in (values.get("lanes") or {}).items()
        if "wip_limit" in spec
    }
    return Config(
        branch=values.get("branch", DEFAULT_BRANCH),
        archetypes=MappingProxyType(archetypes),
        runners=MappingProxyType(dict(values.get("runners") or {})),
        wip_limits=MappingProxyType(wip),
        review_rounds=(values.get("review") or {}).get("rounds", 2),
        database_url=values.get("database_url"),
        on_escalation=tuple(values.get("on_escalation") or ()),
        sandbox=values.get("sandbox", True),
        daily_usd=(values.get("budget") or {}).get("daily_usd"),
        caps=_caps(values.get("artifacts") or {}),
        notifications=tuple(
            Notify(n["url"], frozenset(n.get("events") or NOTIFY_EVENTS))
            for n in values.get("notifications") or ()
        ),
    )


def _caps(spec: dict[str, Any]) -> Caps:
    default = Caps()
    return Caps(
        spec.get("max_files", default.max_files),
        spec["max_file_mb"] * 2**20 if "max_file_mb" in spec else default.max_file_bytes,
        spec["max_total_mb"] * 2**20 if "max_total_mb" in spec else default.max_total_bytes,
    )


def _valid_archetype_name(name: str) -> bool:
    import re

    return re.fullmatch(ARCHETYPE_PATTERN, name) is not None
