"""Request bodies: pydantic models that refuse unknown fields (a body cannot name an actor
or a role) and control characters in any text."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

# ---------------------------------------------------------------------- bodies


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _CONTROL.search(text):
                raise ValueError("control characters are not allowed")
        return value


class ProjectCreate(Body):
    title: str
    archetype: str
    id: str | None = None
    template: str | None = None
    description: str | None = None
    acceptance: list[str] | None = None
    due: str | None = None
    priority: int | None = None
    owner: str | None = None
    model: str | None = None
    labels: list[str] | None = None
    workspace: str | None = None
    integrate: Literal["merge", "squash", "pr", "none"] | None = None
    lane: Literal["backlog", "up-next"] = "backlog"


class ProjectPatch(Body):
    title: str | None = None
    archetype: str | None = None
    model: str | None = None
    description: str | None = None
    acceptance: list[str] | None = None
    priority: int | None = None
    owner: str | None = None
    due: str | None = None
    labels: list[str] | None = None
    workspace: str | None = None
    integrate: Literal["merge", "squash", "pr", "none"] | None = None
    feedback: str | None = None


class Move(Body):
    lane: str


class Rework(Body):
    notes: str = ""
    conflicts: bool = False  # the notes name the paths that conflict with the base


class Comment(Body):
    text: str


class LineCommentBody(Body):
    """A comment on lines ``start``–``end`` (default: ``start``) of ``path`` in the diff."""

    path: str
    side: Literal["old", "new"] = "new"
    start: int
    end: int | None = None
    text: str


class RequestChanges(Body):
    notes: str = ""


class Report(Body):
    notes: str = ""
    error: str = ""


class TaskCreate(Body):
    title: str
    due: str | None = None
    project: str | None = None
    priority: int | None = None
    notes: str = ""
    tags: list[str] | None = None


class TaskPatch(Body):
    title: str | None = None
    due: str | None = None
    project: str | None = None
    priority: int | None = None
    notes: str | None = None
    tags: list[str] | None = None
    done: bool | None = None


class Empty(Body):
    pass


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"{where}: not a field of this request (the actor is who you are logged in as)"
    return f"{where}: {first['msg']}"
