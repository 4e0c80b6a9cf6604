"""One error root for everything Mission Control refuses or fails at.

Every error carries a message a person can act on and the HTTP status the web
layer answers with; the CLI prints ``str(error)`` on one line and exits non-zero.
"""

from __future__ import annotations


class McError(Exception):
    """Mission Control could not do that."""

    http_status = 500
    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class BoardNotFound(McError):
    """No board here: run `mc init DIR`, pass --board DIR or set MC_BOARD."""

    http_status = 500


class ConfigError(McError):
    """The board's mc.yaml is not valid."""

    http_status = 500


class ProjectNotFound(McError):
    """No project with that id."""

    http_status = 404


class ProjectExists(McError):
    """A project with that id already exists."""

    http_status = 409


class InvalidProjectFile(McError):
    """The project file is not valid."""

    http_status = 422


class InvalidInput(McError):
    """That input is not valid."""

    http_status = 422


class InvalidSetting(InvalidInput):
    """An MC_* environment variable has a value mc cannot use."""


class TransitionRefused(McError):
    """That transition is not allowed."""

    http_status = 409


class UncommittedChanges(McError):
    """The project's file has uncommitted edits: commit or discard them first."""

    http_status = 409


class StaleVersion(McError):
    """The project changed since it was read."""

    http_status = 412


class SigningError(McError):
    """The commit could not be signed."""

    http_status = 403


class NotAnApprover(McError):
    """The signing key is not an approver of this board."""

    http_status = 403


class GitError(McError):
    """A git command failed."""

    http_status = 500
