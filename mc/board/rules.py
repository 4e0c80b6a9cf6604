"""Who may change what on the board: DESIGN §3 as one pure function.

No I/O. The pre-commit hook, the server's pre-receive hook, `mc verify`, the git
store, the daemon and the web all ask ``check(actor, change)``; whatever evidence a
rule needs (the signer, the state the review passed on) is handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple

from mc.board.layout import CONFIG_FILE, SIGNERS_PATH, Lane
from mc.board.projectfile import PIPELINE_KEYS, approved_of, review_of


class Role(StrEnum):
    HUMAN = "human"  # a person (unsigned, or signed by a key that is not an approver)
    APPROVER = "approver"  # a person whose signature is an approver key in allowed_signers
    DISPATCHER = "dispatcher"
    EXECUTOR = "executor"
    REVIEWER = "reviewer"

    @property
    def is_person(self) -> bool:
        return self in (Role.HUMAN, Role.APPROVER)

    @property
    def is_service(self) -> bool:
        return not self.is_person


class Actor(NamedTuple):
    role: Role
    name: str | None = None  # the signer's principal, when a signature proved one

    def __str__(self) -> str:
        return f"{self.role.value} {self.name}" if self.name else self.role.value


HUMAN = Actor(Role.HUMAN)


class State(NamedTuple):
    """A project as one commit has it."""

    lane: Lane
    data: Mapping[str, Any]


class Change(NamedTuple):
    """What one commit does to one project (by id)."""

    project_id: str
    before: State | None
    after: State | None
    artifacts_changed: bool = False
    # For approvals: the project as the passing review left it, and whether its
    # artifacts changed since. The caller finds these in history; the rule decides.
    reviewed: State | None = None
    artifacts_changed_since_review: bool = False
    # For approvals: the branch head the commit says it integrated (Mc-Approved-Head).
    approved_head: str | None = None


class Decision(NamedTuple):
    allowed: bool
    action: str
    reason: str = ""
    hint: str = ""  # what to do instead

    def __bool__(self) -> bool:
        return self.allowed

    def explain(self) -> str:
        return f"{self.reason} ({self.hint})" if self.hint else self.reason


# Pipeline-owned keys each service may write.
_SERVICE_KEYS: dict[Role, frozenset[str]] = {
    Role.DISPATCHER: frozenset({"run", "ready_for_human", "review", "needs_human"}),
    Role.EXECUTOR: frozenset({"run", "needs_human"}),
    Role.REVIEWER: frozenset({"review", "ready_for_human", "needs_human"}),
}

# (from, to) -> (who may, action name)
_MOVES: dict[tuple[Lane, Lane], tuple[frozenset[Role], str]] = {
    (Lane.BACKLOG, Lane.UP_NEXT): (frozenset({Role.HUMAN, Role.APPROVER}), "queue"),
    (Lane.UP_NEXT, Lane.IN_PROGRESS): (frozenset({Role.DISPATCHER}), "dispatch"),
    (Lane.IN_PROGRESS, Lane.REVIEW): (frozenset({Role.EXECUTOR}), "complete"),
    (Lane.REVIEW, Lane.IN_PROGRESS): (frozenset({Role.REVIEWER}), "review"),
    (Lane.REVIEW, Lane.DONE): (frozenset({Role.APPROVER}), "approve"),
    (Lane.REVIEW, Lane.UP_NEXT): (frozenset({Role.HUMAN, Role.APPROVER}), "rework"),
}
for _lane in (Lane.UP_NEXT, Lane.IN_PROGRESS, Lane.REVIEW):
    _MOVES[(_lane, Lane.BACKLOG)] = (frozenset({Role.HUMAN, Role.APPROVER}), "cancel")

_ORDER = {lane: i for i, lane in enumerate(Lane)}


def allowed_moves(role: Role, lane: Lane) -> list[Lane]:
    """Lanes an actor of this role may move a project to from ``lane`` (for UIs)."""
    return [to for (frm, to), (roles, _) in _MOVES.items() if frm is lane and role in roles]


def _refuse(action: str, reason: str, hint: str = "") -> Decision:
    return Decision(False, action, reason, hint)


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def check(actor: Actor, change: Change) -> Decision:
    """Is ``actor`` allowed to make ``change``? Say why not, and what to do instead."""
    before, after, pid = change.before, change.after, change.project_id
    role = actor.role
    if before is None and after is None:
        return _check_artifacts_only(actor, change)
    if before is not None and before.lane is Lane.DONE:
        return _refuse(
            "edit",
            f"{pid} is done: done is final, nothing leaves done/ and nothing in it is "
            "edited or deleted",
        )
    if change.artifacts_changed and role not in (Role.EXECUTOR, Role.REVIEWER):
        return _refuse(
            "artifacts",
            f"{pid}: artifacts/{pid}/ holds what the agents produced; only the pipeline writes it",
        )
    if before is None:
        assert after is not None
        return _check_create(actor, pid, after)
    if after is None:
        if not role.is_person:
            return _refuse("delete", f"{pid}: the {role.value} may not delete projects")
        if before.lane not in (Lane.BACKLOG, Lane.UP_NEXT):
            return _refuse(
                "delete",
                f"{pid} is in {before.lane.value}: only projects in backlog or up-next may be "
                "deleted",
                f"cancel it first: mc project cancel {pid}",
            )
        return Decision(True, "delete")

    changed = _changed(before.data, after.data)
    pipeline_changed = changed & set(PIPELINE_KEYS)
    person_changed = changed - pipeline_changed

    if before.lane is after.lane:
        action = "edit"
    else:
        move = _MOVES.get((before.lane, after.lane))
        if move is None or role not in move[0]:
            return _refuse_move(actor, pid, before.lane, after.lane, move)
        action = move[1]

    if action == "approve":
        return _check_approve(actor, change, changed)
    if role.is_person:
        if pipeline_changed:
            keys = ", ".join(sorted(pipeline_changed))
            return _refuse(
                action,
                f"{pid}: {keys} {'is' if len(pipeline_changed) == 1 else 'are'} written only by "
                "the pipeline",
                "undo that change; approve with mc approve, rework with mc project move ID up-next",
            )
        return Decision(True, action)

    # A service.
    if person_changed:
        keys = ", ".join(sorted(person_changed))
        return _refuse(
            action, f"{pid}: the {role.value} may not change person-owned fields ({keys})"
        )
    foreign = pipeline_changed - _SERVICE_KEYS[role]
    if foreign:
        keys = ", ".join(sorted(foreign))
        return _refuse(action, f"{pid}: the {role.value} may not write {keys}")
    if after.data.get("ready_for_human") and not before.data.get("ready_for_human"):
        review = review_of(after.data)
        if role is not Role.REVIEWER or review is None or not review.passed:
            return _refuse(action, f"{pid}: only a passing review sets ready_for_human")
    if role is Role.DISPATCHER and "review" in pipeline_changed and "review" in after.data:
        return _refuse(action, f"{pid}: the dispatcher may only clear a review, not write one")
    failed = review_of(after.data)
    if action == "review" and (failed is None or failed.passed):
        return _refuse(
            action, f"{pid}: a project goes back to in-progress only on a failing review"
        )
    return Decision(True, action)


def _check_artifacts_only(actor: Actor, change: Change) -> Decision:
    pid = change.project_id
    if change.artifacts_changed and actor.role not in (Role.EXECUTOR, Role.REVIEWER):
        return _refuse(
            "artifacts",
            f"{pid}: artifacts/{pid}/ holds what the agents produced; only the pipeline writes it",
        )
    return Decision(True, "artifacts")


def _check_create(actor: Actor, pid: str, after: State) -> Decision:
    if not actor.role.is_person:
        return _refuse("create", f"{pid}: the {actor.role.value} may not add projects")
    if after.lane not in (Lane.BACKLOG, Lane.UP_NEXT):
        return _refuse(
            "create",
            f"{pid}: a new project goes into backlog or up-next, not {after.lane.value}",
            "mc project new TITLE --archetype A",
        )
    owned = sorted(set(after.data) & set(PIPELINE_KEYS))
    if owned:
        return _refuse(
            "create",
            f"{pid}: {', '.join(owned)} {'is' if len(owned) == 1 else 'are'} written only by "
            "the pipeline",
        )
    return Decision(True, "create")


def _refuse_move(
    actor: Actor, pid: str, frm: Lane, to: Lane, move: tuple[frozenset[Role], str] | None
) -> Decision:
    path = f"{frm.value} → {to.value}"
    if to is Lane.DONE:
        return _refuse(
            "move",
            f"{pid}: {path} is refused: only an approval moves a project to done",
            f"run mc approve {pid}: a commit signed by an approver",
        )
    if frm is Lane.DONE:
        return _refuse("move", f"{pid}: done is final")
    if actor.role.is_person:
        if to in (Lane.IN_PROGRESS, Lane.REVIEW):
            return _refuse(
                "move",
                f"{pid}: {path} is refused: only the pipeline moves projects into {to.value}",
                f"queue it with mc project queue {pid}" if frm is Lane.BACKLOG else "",
            )
        if move is None:
            return _refuse(
                "move",
                f"{pid}: {path} is not a move on this board",
                "a person may queue (backlog → up-next), send back (review → up-next) "
                "or cancel (→ backlog)",
            )
    if move is not None:
        who = " or ".join(sorted(r.value for r in move[0]))
        return _refuse("move", f"{pid}: {path} is made by the {who}, not the {actor.role.value}")
    skip = abs(_ORDER[to] - _ORDER[frm]) > 1
    return _refuse(
        "move", f"{pid}: {path} {'skips lanes' if skip else 'is not a move on this board'}"
    )


def _check_approve(actor: Actor, change: Change, changed: set[str]) -> Decision:
    before, after, pid = change.before, change.after, change.project_id
    assert before is not None and after is not None
    review = review_of(before.data)
    if not before.data.get("ready_for_human") or review is None or not review.passed:
        return _refuse(
            "approve",
            f"{pid} is not ready for a human: its review has not passed",
        )
    if changed != {"approved"}:
        extra = ", ".join(sorted(changed - {"approved"})) or "approved is missing"
        return _refuse("approve", f"{pid}: an approval only adds approved ({extra})")
    approved = approved_of(after.data)
    by = approved.by if approved is not None else None
    if not actor.name or by != actor.name:
        return _refuse(
            "approve",
            f"{pid}: approved.by is {by!r} but the commit is signed by {actor.name!r}",
        )
    if change.reviewed is None:
        return _refuse("approve", f"{pid}: no passing review to approve")
    if (
        change.reviewed.lane is not Lane.REVIEW
        or change.reviewed.data != before.data
        or change.artifacts_changed_since_review
    ):
        return _refuse(
            "approve",
            f"{pid} changed after its review: an approval covers exactly what was reviewed",
            f"send it back for another review: mc project move {pid} up-next",
        )
    reviewed_run = change.reviewed.data.get("run")
    reviewed_head = reviewed_run.get("head") if isinstance(reviewed_run, Mapping) else None
    if reviewed_head is not None and change.approved_head != reviewed_head:
        return _refuse(
            "approve",
            f"{pid}: the approval names branch head {change.approved_head or 'none'}, but the "
            f"review covered {reviewed_head}: an approval covers exactly what was reviewed",
        )
    return Decision(True, "approve")


def check_signers_change(actor: Actor, approvers_before: int, path: str = SIGNERS_PATH) -> Decision:
    """Who may change the files that say who signs what (.mc/allowed_signers, .mc/gpg/)
    and what runs (mc.yaml): an approver, once the board has one.

    The first approver may be added by anyone who can commit (there is nobody to
    vouch for them yet); after that, each change is signed by an existing approver.
    """
    if approvers_before == 0 or actor.role is Role.APPROVER:
        return Decision(True, "approvers")
    return _refuse(
        "approvers",
        f"changes to {path} must be signed by an existing approver",
        "sign the commit with your approver key: git commit -S"
        + ("" if path == CONFIG_FILE else ", or use mc approvers add"),
    )
