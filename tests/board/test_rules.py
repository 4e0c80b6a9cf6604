"""mc.rules.check: DESIGN §3 (who may make which transition) as a table, then the details.

The expectations here are written out by hand from DESIGN §3, not derived from
mc/rules.py's own tables, so a wrong entry there shows up as a failing case here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mc.board.layout import Lane
from mc.board.rules import (
    Actor,
    Change,
    Decision,
    Role,
    State,
    allowed_moves,
    check,
    check_signers_change,
)

PID = "build-cli"
B, U, IP, R, D = Lane.BACKLOG, Lane.UP_NEXT, Lane.IN_PROGRESS, Lane.REVIEW, Lane.DONE
LANES = (B, U, IP, R, D)
ROLES = tuple(Role)
PERSONS = frozenset({Role.HUMAN, Role.APPROVER})
SERVICES = (Role.DISPATCHER, Role.EXECUTOR, Role.REVIEWER)
NOBODY: frozenset[Role] = frozenset()
PIPELINE = ("run", "review", "ready_for_human", "needs_human", "approved")
AT = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)


@pytest.fixture(autouse=True, scope="module")
def git_env() -> Iterator[None]:
    """These are pure functions: skip conftest's per-test git config (keys, subprocesses)."""
    yield


# --------------------------------------------------------------------------- the table

# DESIGN §3, written out by hand: (from, to) -> the roles that may make it.
# Same-lane entries are edits of person-owned fields ("in any lane but done: human").
EXPECTED_ALLOWED: dict[tuple[Lane, Lane], frozenset[Role]] = {
    (B, B): PERSONS,  # edit
    (B, U): PERSONS,  # queue
    (B, IP): NOBODY,  # a person never moves a card into in-progress; nor skips
    (B, R): NOBODY,  # skip
    (B, D): NOBODY,  # direct move to done
    (U, B): PERSONS,  # cancel / park
    (U, U): PERSONS,  # edit
    (U, IP): frozenset({Role.DISPATCHER}),  # dispatch
    (U, R): NOBODY,  # skip
    (U, D): NOBODY,
    (IP, B): PERSONS,  # cancel (the running job is cancelled)
    (IP, U): NOBODY,  # not a move on the board
    (IP, IP): PERSONS,  # edit
    (IP, R): frozenset({Role.EXECUTOR}),  # complete
    (IP, D): NOBODY,
    (R, B): PERSONS,  # cancel
    (R, U): PERSONS,  # rework by the person
    (R, IP): frozenset({Role.REVIEWER}),  # failing review, rework round left
    (R, R): PERSONS,  # edit
    (R, D): frozenset({Role.APPROVER}),  # approve, signed by an approver
    (D, B): NOBODY,  # done is final
    (D, U): NOBODY,
    (D, IP): NOBODY,
    (D, R): NOBODY,
    (D, D): NOBODY,  # nothing in done is edited
}

# The Mc-Action names of DESIGN §1 for the allowed moves.
EXPECTED_ACTION: dict[tuple[Lane, Lane], str] = {
    (B, U): "queue",
    (U, IP): "dispatch",
    (IP, R): "complete",
    (R, IP): "review",
    (R, D): "approve",
    (R, U): "rework",
    (U, B): "cancel",
    (IP, B): "cancel",
    (R, B): "cancel",
    **{(lane, lane): "edit" for lane in LANES},
}


def person_data(**extra: Any) -> dict[str, Any]:
    return {"title": "Build a CLI", "archetype": "coder", "priority": 2, **extra}


RUN = {"job": 1, "attempt": 1, "started_at": AT, "outcome": "succeeded"}
PASS = {"job": 2, "verdict": "pass", "notes": "fine", "at": AT}
FAIL = {"job": 2, "verdict": "fail", "notes": "missing tests", "at": AT}
APPROVED = {"by": "alice", "at": AT}


def reviewed_data() -> dict[str, Any]:
    """A project as a passing review leaves it in review/."""
    return person_data(run=dict(RUN), review=dict(PASS), ready_for_human=True)


def data_in(lane: Lane) -> dict[str, Any]:
    """A plausible project in each lane."""
    if lane in (B, U):
        return person_data()
    if lane is IP:
        return person_data(run={"job": 1, "attempt": 1, "outcome": "running"})
    if lane is R:
        return reviewed_data()
    return {**reviewed_data(), "approved": dict(APPROVED)}


def approval(
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reviewed: State | bool | None = True,
    artifacts: bool = False,
    since: bool = False,
) -> Change:
    """review -> done as `mc approve` makes it, with the evidence the caller finds."""
    before = dict(before if before is not None else reviewed_data())
    after = dict(after if after is not None else {**before, "approved": dict(APPROVED)})
    evidence = State(R, dict(before)) if reviewed is True else reviewed or None
    return Change(
        PID,
        State(R, before),
        State(D, after),
        artifacts_changed=artifacts,
        reviewed=evidence,
        artifacts_changed_since_review=since,
    )


def canonical_change(frm: Lane, to: Lane) -> Change:
    """The change that makes this lane move (or edit) as the allowed actor would make it."""
    before = data_in(frm)
    if frm is to:
        return Change(PID, State(frm, before), State(to, {**before, "priority": 3}))
    if (frm, to) == (R, IP):
        after = {k: v for k, v in before.items() if k != "ready_for_human"}
        return Change(PID, State(frm, before), State(to, {**after, "review": dict(FAIL)}))
    if (frm, to) == (R, D):
        return approval(before=before)
    return Change(PID, State(frm, before), State(to, dict(before)))


TABLE = [
    pytest.param(frm, to, role, id=f"{frm.value}->{to.value}-{role.value}")
    for frm in LANES
    for to in LANES
    for role in ROLES
]


def test_the_table_covers_every_pair() -> None:
    assert set(EXPECTED_ALLOWED) == {(f, t) for f in LANES for t in LANES}
    assert len(TABLE) == 125


@pytest.mark.parametrize(("frm", "to", "role"), TABLE)
def test_transition_table(frm: Lane, to: Lane, role: Role) -> None:
    decision = check(Actor(role, "alice"), canonical_change(frm, to))
    expected = role in EXPECTED_ALLOWED[(frm, to)]
    assert isinstance(decision, Decision)
    assert decision.allowed is expected, decision.explain()
    assert bool(decision) is expected
    if expected:
        assert decision.action == EXPECTED_ACTION[(frm, to)]
        assert decision.reason == ""
    else:
        assert decision.reason.strip(), "a refusal must say why"
        assert decision.action


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("lane", LANES)
def test_allowed_moves_match_the_table(role: Role, lane: Lane) -> None:
    expected = {to for to in LANES if to is not lane and role in EXPECTED_ALLOWED[(lane, to)]}
    assert set(allowed_moves(role, lane)) == expected


# --------------------------------------------------------------------------- creation


def create(lane: Lane, data: Mapping[str, Any] | None = None, **kw: Any) -> Change:
    return Change(PID, None, State(lane, dict(data if data is not None else person_data())), **kw)


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("lane", [B, U])
def test_a_person_creates_into_backlog_or_up_next(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), create(lane))
    assert decision.allowed and decision.action == "create"


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("lane", [IP, R, D])
def test_a_person_cannot_create_into_later_lanes(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), create(lane))
    assert not decision.allowed
    assert decision.action == "create"
    assert lane.value in decision.reason and PID in decision.reason


@pytest.mark.parametrize("role", SERVICES)
@pytest.mark.parametrize("lane", LANES)
def test_services_never_create(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), create(lane))
    assert not decision.allowed
    assert role.value in decision.reason


@pytest.mark.parametrize("key", PIPELINE)
@pytest.mark.parametrize("lane", [B, U])
def test_creation_with_pipeline_keys_is_refused(key: str, lane: Lane) -> None:
    value = {"run": RUN, "review": PASS, "ready_for_human": False,
             "needs_human": {"reason": "x"}, "approved": APPROVED}[key]  # fmt: skip
    decision = check(Actor(Role.HUMAN), create(lane, person_data(**{key: value})))
    assert not decision.allowed
    assert key in decision.reason and "pipeline" in decision.reason


def test_creation_with_several_pipeline_keys_names_them_all() -> None:
    decision = check(
        Actor(Role.APPROVER), create(B, person_data(ready_for_human=True, approved=APPROVED))
    )
    assert not decision.allowed
    assert "approved, ready_for_human are written only by the pipeline" in decision.reason


# --------------------------------------------------------------------------- deletion


def delete(lane: Lane, **kw: Any) -> Change:
    return Change(PID, State(lane, data_in(lane)), None, **kw)


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("lane", [B, U])
def test_a_person_deletes_from_backlog_or_up_next(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), delete(lane))
    assert decision.allowed and decision.action == "delete"


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("lane", [IP, R])
def test_a_person_cannot_delete_from_in_progress_or_review(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), delete(lane))
    assert not decision.allowed
    assert lane.value in decision.reason and PID in decision.reason
    assert f"mc project cancel {PID}" in decision.hint


@pytest.mark.parametrize("role", SERVICES)
@pytest.mark.parametrize("lane", [B, U, IP, R])
def test_services_never_delete(role: Role, lane: Lane) -> None:
    decision = check(Actor(role), delete(lane))
    assert not decision.allowed
    assert decision.action == "delete" and decision.reason


# --------------------------------------------------------------------------- done is final


@pytest.mark.parametrize("role", ROLES)
def test_nothing_in_done_is_deleted(role: Role) -> None:
    decision = check(Actor(role, "alice"), delete(D))
    assert not decision.allowed
    assert "done is final" in decision.reason and PID in decision.reason


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "change",
    [
        {"priority": 1},  # a person-owned field
        {"ready_for_human": False},  # a pipeline field
        {"approved": {"by": "bob", "at": AT}},
        {"x-note": "after the fact"},
    ],
)
def test_nothing_in_done_is_edited(role: Role, change: dict[str, Any]) -> None:
    before = data_in(D)
    decision = check(
        Actor(role, "alice"), Change(PID, State(D, before), State(D, {**before, **change}))
    )
    assert not decision.allowed
    assert "done is final" in decision.reason and PID in decision.reason


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("to", [B, U, IP, R])
def test_nothing_leaves_done(role: Role, to: Lane) -> None:
    before = data_in(D)
    decision = check(Actor(role, "alice"), Change(PID, State(D, before), State(to, before)))
    assert not decision.allowed
    assert "done is final" in decision.reason


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("frm", [B, U, IP])
def test_no_direct_move_to_done(role: Role, frm: Lane) -> None:
    before = data_in(frm)
    after = {**before, "approved": dict(APPROVED)}
    decision = check(Actor(role, "alice"), Change(PID, State(frm, before), State(D, after)))
    assert not decision.allowed
    assert PID in decision.reason and "approv" in decision.reason


# --------------------------------------------------------------------------- field ownership


def edit(lane: Lane, before: Mapping[str, Any], after: Mapping[str, Any], **kw: Any) -> Change:
    return Change(PID, State(lane, dict(before)), State(lane, dict(after)), **kw)


PIPELINE_EDITS = [
    pytest.param(key, before, after, id=f"{key}-{how}")
    for key, how, before, after in [
        ("run", "set", person_data(), person_data(run=RUN)),
        ("run", "change", person_data(run=RUN), person_data(run={**RUN, "attempt": 2})),
        ("run", "remove", person_data(run=RUN), person_data()),
        ("review", "set", person_data(), person_data(review=PASS)),
        ("review", "flip", person_data(review=FAIL), person_data(review=PASS)),
        ("review", "remove", person_data(review=FAIL), person_data()),
        ("ready_for_human", "set", person_data(), person_data(ready_for_human=True)),
        ("ready_for_human", "set-false", person_data(), person_data(ready_for_human=False)),
        ("ready_for_human", "clear", person_data(ready_for_human=True), person_data()),
        ("needs_human", "set", person_data(), person_data(needs_human={"reason": "x"})),
        ("needs_human", "clear", person_data(needs_human={"reason": "x"}), person_data()),
        ("approved", "set", person_data(), person_data(approved=APPROVED)),
    ]
]


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("lane", [B, U, IP, R])
@pytest.mark.parametrize(("key", "before", "after"), PIPELINE_EDITS)
def test_persons_cannot_change_pipeline_keys(
    role: Role, lane: Lane, key: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    decision = check(Actor(role, "alice"), edit(lane, before, after))
    assert not decision.allowed
    assert key in decision.reason and "pipeline" in decision.reason and PID in decision.reason


@pytest.mark.parametrize(
    ("frm", "to"), [(B, U), (U, B), (IP, B), (R, B), (R, U)], ids=lambda lane: lane.value
)
def test_persons_cannot_change_pipeline_keys_while_moving(frm: Lane, to: Lane) -> None:
    before = data_in(frm)
    after = {**before, "needs_human": {"reason": "because"}}
    decision = check(Actor(Role.HUMAN), Change(PID, State(frm, before), State(to, after)))
    assert not decision.allowed
    assert "needs_human" in decision.reason


def test_rework_by_a_person_cannot_clear_ready_for_human_itself() -> None:
    before = reviewed_data()
    after = {k: v for k, v in before.items() if k != "ready_for_human"}
    decision = check(Actor(Role.HUMAN), Change(PID, State(R, before), State(U, after)))
    assert not decision.allowed
    assert "ready_for_human" in decision.reason


@pytest.mark.parametrize("lane", [B, U, IP, R])
def test_persons_edit_their_fields_next_to_pipeline_keys(lane: Lane) -> None:
    before = data_in(lane)
    after = {**before, "title": "Renamed", "labels": ["x"], "x-mine": 1}
    del after["priority"]
    decision = check(Actor(Role.HUMAN), edit(lane, before, after))
    assert decision.allowed and decision.action == "edit"


@pytest.mark.parametrize("role", SERVICES)
@pytest.mark.parametrize(
    "key",
    ["title", "archetype", "model", "description", "acceptance", "priority", "owner", "due",
     "labels", "workspace", "x-mine"],
)  # fmt: skip
def test_services_cannot_change_person_owned_keys(role: Role, key: str) -> None:
    lane = {Role.DISPATCHER: U, Role.EXECUTOR: IP, Role.REVIEWER: R}[role]
    before = data_in(lane)
    after = {**before, key: "changed by a service"}
    decision = check(Actor(role), edit(lane, before, after))
    assert not decision.allowed
    assert key in decision.reason and role.value in decision.reason


def test_services_cannot_change_person_owned_keys_while_moving() -> None:
    before = data_in(U)
    after = {**before, "title": "Claimed", "run": {"job": 1, "outcome": "running"}}
    decision = check(Actor(Role.DISPATCHER), Change(PID, State(U, before), State(IP, after)))
    assert not decision.allowed
    assert "title" in decision.reason


@pytest.mark.parametrize(
    ("role", "frm", "to", "changes"),
    [
        # The dispatcher claims: writes the run block, clears an old review on rework.
        (Role.DISPATCHER, U, IP, {"run": {"job": 3, "attempt": 1, "outcome": "running"}}),
        (Role.DISPATCHER, U, IP, {"review": None, "ready_for_human": None}),
        (Role.DISPATCHER, U, IP, {"ready_for_human": False}),
        # The executor finishes: run outcome, or escalation when retries are spent.
        (Role.EXECUTOR, IP, R, {"run": {**RUN, "finished_at": AT}}),
        (
            Role.EXECUTOR,
            IP,
            IP,
            {"run": {**RUN, "outcome": "dead"}, "needs_human": {"reason": "x"}},
        ),
        # The reviewer: a verdict; ready_for_human with a pass; escalation when rounds run out.
        (Role.REVIEWER, R, R, {"review": PASS, "ready_for_human": True}),
        (Role.REVIEWER, R, R, {"review": FAIL, "needs_human": {"reason": "rounds spent"}}),
        (Role.REVIEWER, R, IP, {"review": FAIL}),
    ],
)
def test_services_write_their_own_pipeline_keys(
    role: Role, frm: Lane, to: Lane, changes: dict[str, Any]
) -> None:
    before = person_data(run=dict(RUN)) if frm is not U else person_data(review=FAIL)
    after = {k: v for k, v in {**before, **changes}.items() if v is not None}
    decision = check(Actor(role), Change(PID, State(frm, before), State(to, after)))
    assert decision.allowed, decision.reason


@pytest.mark.parametrize(
    ("role", "key", "value"),
    [
        (Role.DISPATCHER, "approved", APPROVED),
        (Role.DISPATCHER, "review", PASS),  # may only clear a review
        (Role.EXECUTOR, "review", PASS),
        (Role.EXECUTOR, "ready_for_human", False),
        (Role.EXECUTOR, "approved", APPROVED),
        (Role.REVIEWER, "run", RUN),
        (Role.REVIEWER, "approved", APPROVED),
    ],
)
def test_services_cannot_write_other_pipeline_keys(role: Role, key: str, value: Any) -> None:
    lane = {Role.DISPATCHER: U, Role.EXECUTOR: IP, Role.REVIEWER: R}[role]
    before = person_data()
    decision = check(Actor(role), edit(lane, before, {**before, key: value}))
    assert not decision.allowed
    assert key in decision.reason and role.value in decision.reason


# --------------------------------------------------------------------------- ready_for_human


@pytest.mark.parametrize(
    ("role", "review", "allowed"),
    [
        (Role.REVIEWER, PASS, True),
        (Role.REVIEWER, FAIL, False),
        (Role.REVIEWER, None, False),
        (Role.DISPATCHER, PASS, False),
        (Role.DISPATCHER, None, False),
        (Role.EXECUTOR, PASS, False),
        (Role.HUMAN, PASS, False),
        (Role.APPROVER, PASS, False),
    ],
)
def test_only_a_passing_review_sets_ready_for_human(
    role: Role, review: dict[str, Any] | None, allowed: bool
) -> None:
    before = person_data(run=RUN)
    after = {**before, "ready_for_human": True}
    if review is not None:
        after["review"] = review
    decision = check(Actor(role, "alice"), edit(R, before, after))
    assert decision.allowed is allowed
    if not allowed:
        assert "ready_for_human" in decision.reason or "review" in decision.reason


def test_a_passing_review_already_on_file_still_needs_the_reviewer() -> None:
    before = person_data(review=PASS)
    decision = check(Actor(Role.DISPATCHER), edit(R, before, {**before, "ready_for_human": True}))
    assert not decision.allowed
    assert "only a passing review sets ready_for_human" in decision.reason


# --------------------------------------------------------------------------- review -> in-progress


@pytest.mark.parametrize(
    ("review", "allowed"),
    [(FAIL, True), (PASS, False), (None, False)],
    ids=["fail", "pass", "none"],
)
def test_reviewer_sends_back_only_on_a_failing_verdict(
    review: dict[str, Any] | None, allowed: bool
) -> None:
    before = person_data(run=RUN)
    after = dict(before)
    if review is not None:
        after["review"] = review
    decision = check(Actor(Role.REVIEWER), Change(PID, State(R, before), State(IP, after)))
    assert decision.allowed is allowed
    if allowed:
        assert decision.action == "review"
    else:
        assert "failing review" in decision.reason


# --------------------------------------------------------------------------- approve

ALICE = Actor(Role.APPROVER, "alice")


def test_approve_with_all_its_evidence_is_allowed() -> None:
    decision = check(ALICE, approval())
    assert decision.allowed and decision.action == "approve"


@pytest.mark.parametrize(
    "before",
    [
        person_data(run=RUN, review=PASS),  # no ready_for_human
        person_data(run=RUN, review=PASS, ready_for_human=False),
        person_data(run=RUN, review=FAIL, ready_for_human=True),  # a failing review
        person_data(run=RUN, ready_for_human=True),  # no review at all
    ],
    ids=["rfh-missing", "rfh-false", "review-fail", "review-missing"],
)
def test_approve_needs_ready_for_human_and_a_passing_review(before: dict[str, Any]) -> None:
    decision = check(ALICE, approval(before=before))
    assert not decision.allowed
    assert decision.reason == f"{PID} is not ready for a human: its review has not passed"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"title": "Renamed on the way"}, "title"),
        ({"ready_for_human": False}, "ready_for_human"),
        ({"review": {**PASS, "notes": "edited"}}, "review"),
        ({"x-mine": 1}, "x-mine"),
    ],
)
def test_approve_only_adds_approved(extra: dict[str, Any], named: str) -> None:
    before = reviewed_data()
    decision = check(ALICE, approval(after={**before, "approved": APPROVED, **extra}))
    assert not decision.allowed
    assert decision.reason == f"{PID}: an approval only adds approved ({named})"


def test_approve_must_add_approved() -> None:
    decision = check(ALICE, approval(after=reviewed_data()))
    assert not decision.allowed
    assert decision.reason == f"{PID}: an approval only adds approved (approved is missing)"


@pytest.mark.parametrize("by", ["bob", None, "Alice"])
def test_approved_by_must_be_the_signer(by: str | None) -> None:
    before = reviewed_data()
    decision = check(ALICE, approval(after={**before, "approved": {"by": by, "at": AT}}))
    assert not decision.allowed
    assert decision.reason == (f"{PID}: approved.by is {by!r} but the commit is signed by 'alice'")


def test_approve_does_not_change_artifacts() -> None:
    decision = check(ALICE, approval(artifacts=True))
    assert not decision.allowed
    assert decision.reason.startswith(f"{PID}: artifacts/{PID}/ holds what the agents produced")


def test_approve_needs_the_reviewed_state() -> None:
    decision = check(ALICE, approval(reviewed=None))
    assert not decision.allowed
    assert decision.reason == f"{PID}: no passing review to approve"


@pytest.mark.parametrize(
    "change",
    [
        # the project changed after its review (the reviewed state differs from before)
        approval(reviewed=State(R, {**reviewed_data(), "description": "what was reviewed"})),
        approval(reviewed=State(R, {**reviewed_data(), "review": {**PASS, "job": 99}})),
        # the reviewed state was not in review
        approval(reviewed=State(IP, reviewed_data())),
        # the artifacts changed after the review
        approval(since=True),
    ],
    ids=["data-changed", "other-review", "not-in-review", "artifacts-changed"],
)
def test_approval_covers_exactly_what_was_reviewed(change: Change) -> None:
    decision = check(ALICE, change)
    assert not decision.allowed
    assert decision.reason == (
        f"{PID} changed after its review: an approval covers exactly what was reviewed"
    )
    assert f"mc project move {PID} up-next" in decision.hint
    assert decision.explain() == f"{decision.reason} ({decision.hint})"


@pytest.mark.parametrize("role", [Role.HUMAN, *SERVICES])
def test_only_an_approver_approves(role: Role) -> None:
    decision = check(Actor(role, "alice"), approval())
    assert not decision.allowed
    assert PID in decision.reason
    assert "approv" in decision.reason


# --------------------------------------------------------------------------- artifacts


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.EXECUTOR, True),
        (Role.REVIEWER, True),
        (Role.DISPATCHER, False),
        (Role.HUMAN, False),
        (Role.APPROVER, False),
    ],
)
def test_artifacts_alone_are_written_only_by_executor_and_reviewer(
    role: Role, allowed: bool
) -> None:
    decision = check(Actor(role, "alice"), Change(PID, None, None, artifacts_changed=True))
    assert decision.allowed is allowed
    if not allowed:
        assert f"artifacts/{PID}/" in decision.reason


@pytest.mark.parametrize("role", ROLES)
def test_no_change_at_all_is_allowed(role: Role) -> None:
    assert check(Actor(role), Change(PID, None, None)).allowed


@pytest.mark.parametrize(
    ("role", "frm", "to", "allowed"),
    [
        (Role.EXECUTOR, IP, R, True),  # complete: artifacts committed in the same commit
        (Role.REVIEWER, R, IP, True),  # review notes
        (Role.DISPATCHER, U, IP, False),
        (Role.HUMAN, B, B, False),
        (Role.HUMAN, R, U, False),
        (Role.HUMAN, IP, B, False),
        (Role.APPROVER, R, R, False),
    ],
)
def test_artifacts_change_with_a_transition(role: Role, frm: Lane, to: Lane, allowed: bool) -> None:
    change = canonical_change(frm, to)
    change = Change(PID, change.before, change.after, artifacts_changed=True)
    decision = check(Actor(role, "alice"), change)
    assert decision.allowed is allowed
    if not allowed:
        assert f"artifacts/{PID}/" in decision.reason


@pytest.mark.parametrize("role", sorted(PERSONS))
@pytest.mark.parametrize("how", ["create", "delete"])
def test_persons_cannot_write_artifacts_when_adding_or_deleting(role: Role, how: str) -> None:
    # "artifacts/<id>/: what agents produced, committed by services": a person's commit that
    # adds (or removes) a project must not carry artifacts either.
    change = (
        create(B, artifacts_changed=True) if how == "create" else delete(B, artifacts_changed=True)
    )
    decision = check(Actor(role, "alice"), change)
    assert not decision.allowed
    assert f"artifacts/{PID}/" in decision.reason


# --------------------------------------------------------------------------- refusal reasons


def _refusals() -> list[tuple[str, Actor, Change]]:
    cases: list[tuple[str, Actor, Change]] = []
    for frm in LANES:
        for to in LANES:
            for role in ROLES:
                if role not in EXPECTED_ALLOWED[(frm, to)]:
                    cases.append(
                        (f"{frm.value}->{to.value} by {role.value}", Actor(role, "alice"),
                         canonical_change(frm, to))
                    )  # fmt: skip
    for role in SERVICES:
        cases.append((f"create by {role.value}", Actor(role), create(B)))
        cases.append((f"delete by {role.value}", Actor(role), delete(B)))
    before = person_data()
    review_pass = {**before, "review": PASS}
    cases += [
        ("executor writes review", Actor(Role.EXECUTOR), edit(IP, before, review_pass)),
        ("dispatcher writes review", Actor(Role.DISPATCHER), edit(U, before, review_pass)),
        (
            "failing review sets rfh",
            Actor(Role.REVIEWER),
            edit(R, before, {**before, "review": FAIL, "ready_for_human": True}),
        ),
        (
            "reviewer passes and sends back",
            Actor(Role.REVIEWER),
            Change(PID, State(R, before), State(IP, review_pass)),
        ),
        (
            "artifacts by a person",
            Actor(Role.HUMAN),
            Change(PID, None, None, artifacts_changed=True),
        ),
        ("approve without evidence", ALICE, approval(reviewed=None)),
    ]
    return cases


def test_every_refusal_reason_names_the_project() -> None:
    cases = _refusals()
    missing = []
    for label, actor, change in cases:
        decision = check(actor, change)
        assert not decision.allowed, label
        assert decision.reason.strip(), label
        if PID not in decision.reason:
            missing.append(f"{label}: {decision.reason!r}")
    assert not missing, "refusals that do not name the project:\n" + "\n".join(missing)


# --------------------------------------------------------------------------- allowed_signers


@pytest.mark.parametrize("role", ROLES)
def test_anyone_may_add_the_first_approver(role: Role) -> None:
    decision = check_signers_change(Actor(role), 0)
    assert decision.allowed and decision.action == "approvers"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("count", [1, 2])
def test_after_that_only_an_approver_changes_the_signers(role: Role, count: int) -> None:
    decision = check_signers_change(Actor(role, "alice"), count)
    assert decision.allowed is (role is Role.APPROVER)
    if not decision.allowed:
        assert "allowed_signers" in decision.reason and "approver" in decision.reason
        assert decision.hint


# --------------------------------------------------------------------------- roles


def test_roles() -> None:
    assert {r for r in Role if r.is_person} == PERSONS
    assert {r for r in Role if r.is_service} == set(SERVICES)
    assert str(Actor(Role.APPROVER, "alice")) == "approver alice"
    assert str(Actor(Role.HUMAN)) == "human"
