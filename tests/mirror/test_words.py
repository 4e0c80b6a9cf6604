"""The activity in words (mc/mirror/words.py): one line per event, from the row's facts."""

from __future__ import annotations

from typing import Any

import pytest

from mc.mirror.words import MAX_DETAIL, activity_text, detail_of, first_line


def row(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "move",
        "project_id": "cli",
        "from_lane": None,
        "to_lane": None,
        "action": None,
        "actor": "human",
        "who": "alice",
        "summary": "",
        "title": "Build a CLI tool",
        "detail": "",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        ({"action": "queue", "to_lane": "up-next"}, "alice queued Build a CLI tool"),
        (
            {"action": "dispatch", "actor": "dispatcher", "detail": "coder"},
            "Dispatcher started coder on Build a CLI tool",
        ),
        (
            {"action": "complete", "actor": "executor"},
            "Agent finished Build a CLI tool — in review",
        ),
        (
            {
                "kind": "edit",
                "action": "review",
                "actor": "reviewer",
                "summary": "ready_for_human, review",
            },
            "Reviewer passed Build a CLI tool — ready for your approval",
        ),
        (
            {"action": "review", "actor": "reviewer", "detail": "no tests"},
            "Reviewer asked for changes on Build a CLI tool: no tests",
        ),
        (
            {
                "kind": "edit",
                "action": "review",
                "actor": "reviewer",
                "summary": "needs_human, review",
                "detail": "still no tests",
            },
            "Reviewer failed Build a CLI tool again — it needs you: still no tests",
        ),
        (
            {
                "kind": "edit",
                "action": "escalate",
                "actor": "executor",
                "detail": "3 attempts failed",
            },
            "Build a CLI tool needs you: 3 attempts failed",
        ),
        (
            {"action": "rework", "detail": "use click"},
            "alice sent Build a CLI tool back for rework: use click",
        ),
        (
            {"action": "cancel", "to_lane": "backlog"},
            "Build a CLI tool was cancelled by alice — back in the backlog",
        ),
        ({"kind": "approve", "action": "approve"}, "alice approved Build a CLI tool — done"),
        ({"kind": "create", "to_lane": "up-next"}, "alice added Build a CLI tool to up next"),
        (
            {"kind": "edit", "action": "edit", "summary": "due, priority"},
            "alice edited Build a CLI tool (due, priority)",
        ),
        ({"kind": "delete"}, "alice deleted Build a CLI tool"),
        (
            {"kind": "comment", "summary": "first line\nsecond"},
            "alice commented on Build a CLI tool: first line",
        ),
        (
            {"kind": "violation", "summary": "review/cli.yaml: not signed"},
            "Refused alice's change to Build a CLI tool: review/cli.yaml: not signed",
        ),
        (
            {"kind": "budget", "actor": "dispatcher", "summary": "Holding new work: daily budget"},
            "Dispatcher: Holding new work: daily budget",
        ),
        ({"title": None, "action": "queue"}, "alice queued cli"),  # a row from before titles
    ],
)
def test_each_event_reads_as_one_line(facts: dict[str, Any], words: str) -> None:
    assert activity_text(row(**facts)) == words


def test_the_detail_is_taken_from_the_project_as_the_commit_left_it() -> None:
    data = {
        "archetype": "writer",
        "review": {"verdict": "fail", "notes": "\n\n  Missing the intro.\nAnd more."},
        "feedback": "Shorter, please",
        "needs_human": {"reason": "review rounds spent"},
    }
    assert detail_of("dispatch", data) == "writer"
    assert detail_of("review", data) == "Missing the intro."
    assert detail_of("rework", data) == "Shorter, please"
    assert detail_of("escalate", data) == "review rounds spent"
    assert detail_of("queue", data) == ""
    assert detail_of("review", None) == ""


def test_odd_or_hostile_values_give_a_plain_short_line() -> None:
    # a hand-written review that is not a mapping, notes that never end, markup in a title
    assert detail_of("review", {"review": "passed!"}) == ""
    assert detail_of("escalate", {"needs_human": ["x"]}) == ""
    long = first_line("x" * 5000)
    assert len(long) == MAX_DETAIL and long.endswith("…")
    evil = "<img src=x onerror=alert(1)>"
    assert activity_text(row(action="queue", title=evil)) == f"alice queued {evil}"
    assert activity_text(row(kind="mystery", summary="")) == "alice: mystery Build a CLI tool"
