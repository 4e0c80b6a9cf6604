"""Lanes, project ids and where project files live in the board repository.

Stdlib and mc.errors only: the git hooks import this on every commit.
"""

from __future__ import annotations

import re
from enum import StrEnum

from mc.errors import InvalidInput


class Lane(StrEnum):
    BACKLOG = "backlog"
    UP_NEXT = "up-next"
    IN_PROGRESS = "in-progress"
    REVIEW = "review"
    DONE = "done"

    @property
    def title(self) -> str:  # type: ignore[override]
        return self.value.replace("-", " ").capitalize()


LANES: tuple[Lane, ...] = tuple(Lane)
LANE_NAMES = frozenset(lane.value for lane in Lane)
# Lane(name) goes through Enum.__call__ (~4 µs); this is a dict lookup, for hot loops.
BY_NAME: dict[str, Lane] = {lane.value: lane for lane in Lane}

# Where things live in a board repository: every path the code writes or reads is here.
CONFIG_FILE = "mc.yaml"
STATE_DIR = ".mc"  # committed: who signs; git-ignored: the service key, the database, ...
SIGNERS_PATH = ".mc/allowed_signers"  # ssh allowed-signers: approvers and the service
GPG_DIR = ".mc/gpg"  # <principal>.asc: one ASCII-armored OpenPGP public key per approver
SERVICE_KEY_PATH = ".mc/service_key"  # private part: git-ignored, never committed
ARTIFACTS_DIR = "artifacts"
TEMPLATES_DIR = "templates"

ID_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
_ID_RE = re.compile(ID_PATTERN)
PROJECT_SUFFIX = ".yaml"
# A lane folder may hold project files and this placeholder, nothing else.
PLACEHOLDER = ".gitkeep"


def is_valid_id(project_id: str) -> bool:
    return _ID_RE.fullmatch(project_id) is not None


def parse_lane(name: str) -> Lane:
    """The lane named ``name``, or InvalidInput naming the lanes there are."""
    lane = BY_NAME.get(name)
    if lane is None:
        raise InvalidInput(
            f"unknown lane {name!r}: expected one of {', '.join(LANE_NAMES_ORDERED)}"
        )
    return lane


LANE_NAMES_ORDERED = tuple(lane.value for lane in Lane)


def project_path(lane: Lane | str, project_id: str) -> str:
    return f"{lane}/{project_id}{PROJECT_SUFFIX}"


def project_paths(project_id: str) -> list[str]:
    """Every place a project's file may be, one per lane."""
    return [project_path(lane, project_id) for lane in LANE_NAMES_ORDERED]


def artifacts_dir(project_id: str) -> str:
    return f"{ARTIFACTS_DIR}/{project_id}"


def artifacts_prefix(project_id: str) -> str:
    return artifacts_dir(project_id) + "/"


def template_path(name: str) -> str:
    return f"{TEMPLATES_DIR}/{name}{PROJECT_SUFFIX}"


def gpg_key_path(principal: str) -> str:
    return f"{GPG_DIR}/{principal}.asc"


def is_signers_path(path: str) -> bool:
    """Files that say who may approve: changed only by an approver, once there is one."""
    return path == SIGNERS_PATH or path.startswith(GPG_DIR + "/")


class PathKind(StrEnum):
    PROJECT = "project"  # <lane>/<id>.yaml
    PLACEHOLDER = "placeholder"  # <lane>/.gitkeep
    MISPLACED = "misplaced"  # something in a lane folder that is not a project file
    STRAY_PROJECT = "stray"  # a YAML file at the top of the board other than mc.yaml
    OTHER = "other"  # anything else (mc.yaml, templates, artifacts, README, ...)


def classify(path: str) -> tuple[PathKind, Lane | None, str | None]:
    """Say what a repository path is on a board: (kind, lane, project id)."""
    head, sep, rest = path.partition("/")
    lane = BY_NAME.get(head) if sep else None
    if lane is not None:
        if rest == PLACEHOLDER:
            return PathKind.PLACEHOLDER, lane, None
        if "/" not in rest and rest.endswith(PROJECT_SUFFIX):
            project_id = rest[: -len(PROJECT_SUFFIX)]
            if is_valid_id(project_id):
                return PathKind.PROJECT, lane, project_id
        return PathKind.MISPLACED, lane, None
    # A YAML file outside the lanes (other than mc.yaml, templates, artifacts and .mc)
    # may be a project file put where the board cannot see it: the auditor looks inside.
    if path.endswith((".yaml", ".yml")) and path != CONFIG_FILE and head not in _NOT_PROJECTS:
        return PathKind.STRAY_PROJECT, None, None
    return PathKind.OTHER, None, None


# Top-level folders whose YAML files are never projects put astray.
_NOT_PROJECTS = frozenset({TEMPLATES_DIR, ARTIFACTS_DIR, STATE_DIR})
# Folders whose contents the board reads and writes: only regular files there, and
# nothing else may take their names (a symlink named up-next would send the store's
# writes outside the repository).
BOARD_FOLDERS = frozenset({*LANE_NAMES_ORDERED, *_NOT_PROJECTS})
