"""The README lists every setting (datasette's test_docs.py is the model).

Every ``MC_*`` variable of ``mc.settings`` and every key ``mc.yaml`` takes (walked from
the schema in ``mc.board.config``) is in the README's Configuration section and has its
doc in code; every ``MC_*`` name the code or the README uses is a setting or part of
the agent contract. And ``Settings`` really reads each variable: a good value becomes
its type, a bad one is refused in one line that names the variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import mc
from mc.board import config
from mc.errors import InvalidInput, InvalidSetting
from mc.settings import Setting, Settings, current, reset

ROOT = Path(__file__).parents[1]
PACKAGE = Path(mc.__file__).parent
README = (ROOT / "README.md").read_text()

# What mc sets for the agents it runs (and for on_escalation): mc's word to them, not settings.
AGENT_CONTRACT = {
    "MC_PROJECT_ID",
    "MC_JOB_ID",
    "MC_ARCHETYPE",
    "MC_MODEL",
    "MC_PROMPT_FILE",
    "MC_OUTPUT_DIR",
    "MC_JOB_TOKEN",
    "MC_ESCALATION",
}
# Read by the test suite only (README, Development).
TEST_ONLY = {"MC_AGENTS", "MC_CHROMIUM"}
VARIABLES = {s.variable for s in Settings.fields()}


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


CONFIGURATION = _section("Configuration")


# ---------------------------------------------------------------------- MC_* variables


@pytest.mark.parametrize("setting", Settings.fields(), ids=lambda s: s.variable)
def test_every_setting_is_in_the_readme(setting: Setting[Any]) -> None:
    assert f"`{setting.variable}`" in CONFIGURATION, (
        f"{setting.variable} is not in README.md's Configuration section"
    )


@pytest.mark.parametrize("setting", Settings.fields(), ids=lambda s: s.variable)
def test_every_setting_has_its_doc(setting: Setting[Any]) -> None:
    assert setting.variable == "MC_" + setting.name.upper()
    assert setting.doc.strip() and "\n" not in setting.doc and setting.doc.endswith(".")


def _mc_names(text: str) -> set[str]:
    return set(re.findall(r"\bMC_[A-Z][A-Z0-9_]*", text))


def test_every_mc_variable_is_a_setting_or_the_agent_contract() -> None:
    """An MC_* name in the code or the README that is neither is an undocumented setting
    (or a stale mention)."""
    in_code = set().union(*(_mc_names(p.read_text()) for p in PACKAGE.rglob("*.py")))
    assert in_code - VARIABLES - AGENT_CONTRACT == set()
    assert _mc_names(README) - VARIABLES - AGENT_CONTRACT - TEST_ONLY == set()
    assert {v for v in AGENT_CONTRACT if f"`{v}`" not in README} == set()


_READ = re.compile(r"""(?:environ\s*(?:\.get\(|\[)|getenv\()\s*["'](MC_\w+)""")


def test_only_mc_settings_reads_a_setting() -> None:
    """Everything else asks ``mc.settings``; an agent may read its own contract."""
    reads = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "settings.py"
        for name in _READ.findall(path.read_text())
        if name not in AGENT_CONTRACT
    ]
    assert reads == []


# ---------------------------------------------------------------------- mc.yaml keys


def test_every_mc_yaml_key_has_its_doc() -> None:
    assert sorted(config.DOCS) == config.schema_keys()
    for key, doc in config.DOCS.items():
        assert doc.strip() and doc.endswith("."), key


def _rows() -> dict[str, str]:
    """The rows of the Configuration section's table of keys, by the key in their first cell."""
    table = CONFIGURATION[CONFIGURATION.index("| key | meaning | default |") :].split("\n\n")[0]
    return dict(re.findall(r"^\| `([^`]+)` \|(.*)$", table, flags=re.M))


def _code_words(text: str) -> set[str]:
    spans = " ".join(re.findall(r"`([^`]+)`", text))
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", spans))


@pytest.mark.parametrize("key", config.schema_keys())
def test_every_mc_yaml_key_is_in_the_readme(key: str) -> None:
    """The row of the key, or of a block around it that names the rest in code:
    ``archetypes.<name>`` says `timeout`, `budget: {daily_usd: N}`, ..."""
    parts = key.split(".")
    rows = [
        (len(row.split(".")), rest)
        for row, rest in _rows().items()
        if parts[: len(row.split("."))] == row.split(".")
    ]
    assert rows, f"mc.yaml's {key} has no row in README.md's Configuration table"
    depth, rest = max(rows)
    missing = set(parts[depth:]) - _code_words(rest)
    assert not missing, f"README.md's row for {'.'.join(parts[:depth])} does not name {missing}"


def test_every_row_of_the_readme_is_a_key() -> None:
    keys = [key.split(".") for key in config.schema_keys()]
    stale = [
        row for row in _rows() if not any(k[: len(row.split("."))] == row.split(".") for k in keys)
    ]
    assert stale == []


# ---------------------------------------------------------------------- reading them

GOOD: dict[str, tuple[str, object]] = {
    "MC_BOARD": ("~/boards/main", lambda: Path.home() / "boards" / "main"),
    "MC_DATABASE_URL": ("postgresql://mc@db.example/mc", "postgresql://mc@db.example/mc"),
    "MC_TZ": (":Asia/Tokyo", ZoneInfo("Asia/Tokyo")),
    "MC_PG_USER": ("pgrunner", "pgrunner"),
    "MC_AGENT_USER": ("mc-agent", "mc-agent"),
    "MC_GIT": ("/opt/git/bin/git", "/opt/git/bin/git"),
    "MC_TOKEN": ("kq3-Zx_9", "kq3-Zx_9"),
}

# One bad value per type: a folder, a database URL, a time zone, a user name, a program.
BAD: dict[str, str] = {
    "MC_BOARD": "~no-such-user-of-mc-tests/board",
    "MC_DATABASE_URL": "mc:hunter2@db.example/mc",
    "MC_TZ": "Mars/Olympus",
    "MC_PG_USER": "pg user",
    "MC_AGENT_USER": "agent:x",
    "MC_GIT": "git --no-pager",
    "MC_TOKEN": "Bearer kq3-Zx_9",
}


def _field(variable: str) -> Setting[Any]:
    return next(s for s in Settings.fields() if s.variable == variable)


def test_every_setting_is_tested_here() -> None:
    assert set(GOOD) == set(BAD) == VARIABLES


@pytest.mark.parametrize("variable", sorted(GOOD))
def test_a_setting_reads_its_variable(variable: str) -> None:
    setting = _field(variable)
    text, value = GOOD[variable]
    expected = value() if callable(value) else value  # HOME is the test's own
    assert getattr(Settings.from_env({variable: text}), setting.name) == expected
    for unset in ({}, {variable: ""}):
        assert getattr(Settings.from_env(unset), setting.name) == setting.default


@pytest.mark.parametrize("variable", sorted(BAD))
def test_a_bad_value_is_refused_in_one_line_naming_its_variable(variable: str) -> None:
    settings = Settings.from_env({variable: BAD[variable]})
    with pytest.raises(InvalidSetting) as caught:
        getattr(settings, _field(variable).name)
    message = str(caught.value)
    assert variable in message and "\n" not in message
    assert isinstance(caught.value, InvalidInput)  # what a bad MC_TZ always raised


def test_a_token_is_never_repeated() -> None:
    with pytest.raises(InvalidSetting) as caught:
        _ = Settings.from_env({"MC_TOKEN": BAD["MC_TOKEN"]}).token
    assert "kq3" not in str(caught.value)


def test_a_database_url_is_never_repeated() -> None:
    """It may hold a password."""
    with pytest.raises(InvalidSetting) as caught:
        _ = Settings.from_env({"MC_DATABASE_URL": BAD["MC_DATABASE_URL"]}).database_url
    assert "hunter2" not in str(caught.value)


def test_a_bad_value_stops_only_what_uses_it() -> None:
    """Values are read when asked for: the git hooks, which ask for MC_GIT alone, do not
    stop on a bad MC_TZ."""
    settings = Settings.from_env({"MC_TZ": "Mars/Olympus", "MC_GIT": "git"})
    assert settings.git == "git"
    with pytest.raises(InvalidSetting, match="MC_TZ"):
        _ = settings.tz


def test_a_process_reads_its_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MC_TZ", "Asia/Tokyo")
    reset()
    assert current().tz == ZoneInfo("Asia/Tokyo")
    monkeypatch.setenv("MC_TZ", "Europe/Berlin")
    assert current().tz == ZoneInfo("Asia/Tokyo")
    reset()
    assert current().tz == ZoneInfo("Europe/Berlin")


def test_the_cli_says_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    """Through the real entry point: mc reads MC_GIT, and refuses a command line there."""
    env = {**os.environ, "MC_GIT": BAD["MC_GIT"], "MC_BOARD": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "mc", "board"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "mc: MC_GIT='git --no-pager': name one program (on PATH, or its path), not a command line"
    ]


def test_the_time_zone_setting_is_the_one_tasks_use() -> None:
    from mc.mirror.tasks import local_zone

    tokyo = Settings.from_env({"MC_TZ": "Asia/Tokyo"})
    assert local_zone(tokyo) == ZoneInfo("Asia/Tokyo")
    assert dt.datetime(2026, 1, 1, tzinfo=local_zone(tokyo)).utcoffset() == dt.timedelta(hours=9)
