"""This machine's settings: the ``MC_*`` environment variables, read once, typed, documented.

``mc.yaml`` is the board's own configuration (``mc.board.config``: versioned, signed,
the same on every clone); these say how this machine runs it. Each is a field of
``Settings`` with its variable, its type (the function that reads its text), its
default and its doc; ``tests/test_docs.py`` checks the README lists every one.

How they reach the code: read once per process through one cached accessor,
``current()`` (its first call reads ``os.environ``), rather than a ``Settings`` passed
down from each entry point. Each setting is used in one place — the git program in
``mc.board.git``, the database URL in ``mc.mirror.target``, the time zone in
``mc.mirror.tasks.local_zone``, the PostgreSQL and agent users in ``mc.mirror.embedded``
and ``mc.pipeline.sandbox``, the board folder in the CLI — but each is reached from
every entry point (the CLI, the git hooks, the web server, the daemon, the dispatcher,
the workers) through most layers: git alone is run from dozens of call sites, so an
argument would be threaded through nearly every signature of the board, the mirror
and the pipeline, and tell a reader nothing. Tests that change the environment get a
fresh read (``reset()``: tests/conftest.py, for every test) or build their own
``Settings.from_env(...)``.

A value is parsed when first asked for, not all at start: the git hooks ask only for
``MC_GIT`` and pay for nothing else on a commit (no zoneinfo), and a bad ``MC_TZ``
stops what uses the time zone — with one line naming the variable — not every command.
Stdlib only and import-light: the hooks import it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload

from mc.errors import InvalidSetting

if TYPE_CHECKING:
    import datetime as dt
    from pathlib import Path

T = TypeVar("T")


class Setting(Generic[T]):
    """One ``MC_*`` variable: its name, how its text is read, its default, its doc."""

    __slots__ = ("default", "doc", "name", "parse", "variable")

    def __init__(self, variable: str, parse: Callable[[str, str], T], default: T, doc: str) -> None:
        self.variable = variable
        self.parse = parse  # (variable, text) -> value; raises InvalidSetting
        self.default = default  # when the variable is unset or empty
        self.doc = doc
        self.name = ""  # the field's name on Settings

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, settings: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, settings: Settings, owner: type) -> T: ...
    def __get__(self, settings: Settings | None, owner: type) -> Setting[T] | T:
        if settings is None:
            return self
        return settings.value(self)

    def __repr__(self) -> str:
        return f"Setting({self.variable})"


# ---------------------------------------------------------------------- the types


def _folder(variable: str, text: str) -> Path:
    """A folder: ``~`` is your home."""
    from pathlib import Path

    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~name of a user this machine does not have
        raise InvalidSetting(
            f"{variable}={text!r}: no home folder for {text.split('/')[0]}"
        ) from None


def _database_url(variable: str, text: str) -> str:
    """A PostgreSQL URL or connection string (never repeated: it may hold a password)."""
    if text.startswith(("postgresql://", "postgres://")) or "=" in text:
        return text
    raise InvalidSetting(
        f"{variable} is not a PostgreSQL URL (postgresql://USER@HOST:PORT/DB) or "
        "connection string (host=HOST dbname=DB)"
    )


def _zone(variable: str, text: str) -> dt.tzinfo:
    """A time zone name, as in TZ (a leading ``:`` is allowed)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = text.lstrip(":")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSetting(
            f"{variable}={name!r} is not a time zone (e.g. Europe/Berlin)"
        ) from None


_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")


def _user(variable: str, text: str) -> str:
    """A user name of this machine (whether it exists is checked where it is used)."""
    if _USER_NAME.fullmatch(text):
        return text
    raise InvalidSetting(f"{variable}={text!r} is not a user name")


def _program(variable: str, text: str) -> str:
    """A program: a name looked up on PATH, or a path to it."""
    if "/" not in text and any(c.isspace() for c in text):  # a name on PATH has no blanks
        raise InvalidSetting(
            f"{variable}={text!r}: name one program (on PATH, or its path), not a command line"
        )
    return text


def _secret(variable: str, text: str) -> str:
    """A secret, one line (never repeated in an error)."""
    if len(text) > 200 or any(c.isspace() for c in text):
        raise InvalidSetting(f"{variable} is not a token (one word, as mc token create printed it)")
    return text


# ---------------------------------------------------------------------- the settings


class Settings:
    """Every ``MC_*`` setting, typed: ``Settings.from_env(os.environ)``, or ``current()``."""

    __slots__ = ("_given", "_values")

    board: Setting[Path | None] = Setting(
        "MC_BOARD", _folder, None,
        "The board's folder, for a command given no --board (unset: the repository around "
        "the current folder).",
    )  # fmt: skip
    database_url: Setting[str | None] = Setting(
        "MC_DATABASE_URL", _database_url, None,
        "The PostgreSQL (>= 14) of the mirror; overrides mc.yaml's database_url (unset: "
        "that, else the board's embedded cluster).",
    )  # fmt: skip
    tz: Setting[dt.tzinfo | None] = Setting(
        "MC_TZ", _zone, None,
        "Your time zone, for due dates, overdue tasks and the day of a daily budget (unset: "
        "TZ, else the machine's).",
    )  # fmt: skip
    pg_user: Setting[str] = Setting(
        "MC_PG_USER", _user, "postgres",
        "As root: the unprivileged user the embedded PostgreSQL runs as.",
    )  # fmt: skip
    agent_user: Setting[str | None] = Setting(
        "MC_AGENT_USER", _user, None,
        "As root: the unprivileged user agents run as (unset: mc-agent if it exists, else "
        "nobody).",
    )  # fmt: skip
    git: Setting[str] = Setting(
        "MC_GIT", _program, "git",
        "The git program mc runs: a name on PATH or a path.",
    )  # fmt: skip
    token: Setting[str | None] = Setting(
        "MC_TOKEN", _secret, None,
        "The API token `mc mcp` acts with (a human or agent token from mc token create; "
        "--token overrides it). Never printed.",
    )  # fmt: skip

    def __init__(self, given: Mapping[str, str]) -> None:
        """``given``: the text of the variables that are set (see ``from_env``)."""
        self._given = dict(given)
        self._values: dict[str, object] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ``: its ``MC_*`` variables (an empty one is unset)."""
        return cls(
            {s.variable: environ[s.variable] for s in cls.fields() if environ.get(s.variable)}
        )

    @classmethod
    def fields(cls) -> tuple[Setting[Any], ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, Setting))

    def value(self, setting: Setting[T]) -> T:
        """The setting's value (read from its text the first time)."""
        try:
            return cast("T", self._values[setting.name])
        except KeyError:
            pass
        text = self._given.get(setting.variable)
        value = setting.default if text is None else setting.parse(setting.variable, text)
        self._values[setting.name] = value
        return value

    def text(self, setting: Setting[Any]) -> str | None:
        """The setting's text as given (None: unset), to pass on as it is."""
        return self._given.get(setting.variable)

    def __repr__(self) -> str:  # names only: a database URL may hold a password
        return f"Settings({', '.join(sorted(self._given))})"


_current: Settings | None = None


def current() -> Settings:
    """This process's settings, read from its environment the first time they are asked for."""
    global _current
    if _current is None:
        _current = Settings.from_env(os.environ)
    return _current


def reset() -> None:
    """Read the environment again at the next ``current()`` (for tests that change it)."""
    global _current
    _current = None
