"""One error root for everything Mission Control refuses or fails at.

Every error is a subclass of ``McError`` named for what went wrong: its docstring is
its default message (one a person can act on), ``http_status`` the status the web
answers with (the web's one handler looks it up on the class; the JSON body is
``{"error": message, **details}``). The CLI prints ``str(error)`` on one line and exits
with ``exit_code``.

Stdlib only, and nothing imported: the git hooks import this on every commit.
"""

from __future__ import annotations


class McError(Exception):
    """Mission Control could not do that."""

    http_status = 500
    exit_code = 1

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or " ".join((self.__doc__ or "").split()))
        self.details = details  # more fields of the web's JSON error body

    @property
    def message(self) -> str:
        return str(self.args[0])


# ---------------------------------------------------------------------- the board


class BoardNotFound(McError):
    """No board here: run `mc init DIR`, pass --board DIR or set MC_BOARD."""

    http_status = 500


class ConfigError(McError):
    """The board's mc.yaml is not valid."""

    http_status = 500


class ServiceKeyMissing(McError):
    """The board's service key is missing: copy .mc/service_key from the machine that ran
    mc init (it is never committed)."""

    http_status = 500


class PathExists(McError):
    """Something is already there: move it away first."""

    http_status = 409


class GitError(McError):
    """A git command failed."""

    http_status = 500


class Busy(McError):
    """The board kept changing while this was being done: try again."""

    http_status = 409


class AlreadyServed(McError):
    """The board is already served by another mc process."""

    http_status = 409


# ---------------------------------------------------------------------- not found


class NotFound(McError):
    """There is nothing by that name here."""

    http_status = 404


class ProjectNotFound(NotFound):
    """No project with that id."""

    http_status = 404


class JobNotFound(NotFound):
    """No job with that id."""

    http_status = 404


class TaskNotFound(NotFound):
    """No task with that number."""

    http_status = 404


class TokenNotFound(NotFound):
    """No active token by that name (see mc token list)."""

    http_status = 404


class BeforeHistory(NotFound):
    """The board did not exist yet at that time: it is before the board's first commit."""

    http_status = 404


class InvalidTimePoint(McError):
    """at: not a commit id (hex) or an ISO date (2026-11-20, 2026-11-20T14:00)."""

    http_status = 400


# ---------------------------------------------------------------------- projects, jobs, tokens


class ProjectExists(McError):
    """A project with that id already exists."""

    http_status = 409


class TokenExists(McError):
    """An active token has that name."""

    http_status = 409


class InvalidProjectFile(McError):
    """The project file is not valid."""

    http_status = 422


class InvalidInput(McError):
    """That input is not valid."""

    http_status = 422


class InvalidSetting(InvalidInput):
    """An MC_* environment variable has a value mc cannot use."""


class NotInDiff(InvalidInput):
    """That line or file is not in the project's change: comment on lines the diff shows."""

    http_status = 400


class TransitionRefused(McError):
    """That transition is not allowed."""

    http_status = 409


class IntegrationRefused(McError):
    """The approved change could not be carried into the workspace: nothing was changed
    and the approval was not recorded."""

    http_status = 409


class BranchMoved(IntegrationRefused):
    """The project's branch moved since its review: approve refused (send it back for
    another review)."""


class MergeConflict(IntegrationRefused):
    """The branch conflicts with the base branch: approve refused; rework it with
    mc project rework ID --conflicts."""


class BaseMoved(IntegrationRefused):
    """The base branch moved while approving: nothing changed; approve again."""


class CheckoutDirty(IntegrationRefused):
    """The base branch is checked out with uncommitted changes: commit or stash them,
    then approve again."""


class PushFailed(IntegrationRefused):
    """Pushing to the workspace's remote failed: nothing was approved."""


class UncommittedChanges(McError):
    """The project's file has uncommitted edits: commit or discard them first."""

    http_status = 409


class StaleVersion(McError):
    """The project changed since it was read."""

    http_status = 412


class JobConflict(McError):
    """The job is not in a state where that can be done."""

    http_status = 409


class LeaseLost(McError):
    """This worker no longer holds the job (its lease ran out and it was reclaimed)."""

    http_status = 409


# ---------------------------------------------------------------------- signatures


class SigningError(McError):
    """The commit could not be signed."""

    http_status = 403


class NotAnApprover(McError):
    """The signing key is not an approver of this board."""

    http_status = 403


# ---------------------------------------------------------------------- what agents leave


class NoOutput(McError):
    """The agent left nothing to show for its run."""

    http_status = 422


class UnsafeOutput(McError):
    """An agent left something in its output folder that is not a plain file."""

    http_status = 422


class TooMuchOutput(McError):
    """A run left more than the board takes in (mc.yaml's ``artifacts:`` caps)."""

    http_status = 422


# ---------------------------------------------------------------------- the database


class DatabaseError(McError):
    """The database is not reachable or refused the request."""

    http_status = 503


class EmbeddedError(McError):
    """The embedded PostgreSQL could not be started."""

    http_status = 503


# ---------------------------------------------------------------------- the web's refusals


class NotAuthenticated(McError):
    """Not logged in: open the login link mc up printed, or send a token."""

    http_status = 401


class NotAllowed(McError):
    """You may not do this."""

    http_status = 403


class CrossSiteRefused(McError):
    """The request did not come from this board's own page (CSRF token, Origin or Host)."""

    http_status = 403


class NotHere(McError):
    """That cannot be done from here: do it on your own machine, with mc."""

    http_status = 409


class MethodNotAllowed(McError):
    """That method is not served at this address."""

    http_status = 405


class BadQuery(McError):
    """A query parameter of the request is not valid (the message names it)."""

    http_status = 400


class MalformedRequest(McError):
    """The request body is not JSON."""

    http_status = 400


class BodyTooLarge(McError):
    """The request body is over 1 MiB."""

    http_status = 413


class VersionRequired(McError):
    """If-Match: required (the etag of the version you change)."""

    http_status = 428


class Undeliverable(McError):
    """This notification target can never take a message (its URL is not usable)."""

    http_status = 422
