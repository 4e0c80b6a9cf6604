"""The activity in words: one line a person reads per event ("Reviewer passed Build a CLI
tool — ready for your approval"), built here once for the web, the MCP tools and the CLI.

An activity row holds facts (kind, the commit's Mc-Action and role, who, the lanes, the
changed fields, and since 0008 the project's title and a ``detail`` taken when it happened:
the review's notes, the reason a project needs the person, the archetype dispatched).
The words are made when the row is read, so they can improve without rewriting history.
The line is plain text: every surface shows it as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_DETAIL = 200

LANE_WORDS = {
    "backlog": "the backlog",
    "up-next": "up next",
    "in-progress": "in progress",
    "review": "review",
    "done": "done",
}

ROLE_WORDS = {"dispatcher": "Dispatcher", "executor": "Agent", "reviewer": "Reviewer"}


def first_line(text: Any) -> str:
    """The first non-empty line of ``text``, cut to a readable length."""
    for line in str(text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"
    return ""


def detail_of(action: str | None, data: Mapping[str, Any] | None) -> str:
    """What the line needs from the project as the commit left it (kept with the row)."""
    if not data:
        return ""
    if action == "dispatch":
        return str(data.get("archetype") or "")
    if action == "review":
        review = data.get("review")
        return first_line(review.get("notes")) if isinstance(review, Mapping) else ""
    if action == "rework":
        return first_line(data.get("feedback"))
    if action == "escalate":
        needs = data.get("needs_human")
        return first_line(needs.get("reason")) if isinstance(needs, Mapping) else ""
    return ""


def _subject(row: Mapping[str, Any]) -> str:
    """Who did it: the person's name, or the service in words."""
    actor = str(row.get("actor") or "")
    if actor in ROLE_WORDS:
        return ROLE_WORDS[actor]
    return str(row.get("who") or actor or "Someone")


def _with(text: str, detail: str) -> str:
    return f"{text}: {detail}" if detail else text


def _move(row: Mapping[str, Any], who: str, name: str, detail: str) -> str:
    action, to_lane = row.get("action"), row.get("to_lane")
    if action == "queue":
        return f"{who} queued {name}"
    if action == "dispatch":
        return f"{who} started {detail or 'an agent'} on {name}"
    if action == "complete":
        return f"Agent finished {name} — in review"
    if action == "review":
        return _with(f"Reviewer asked for changes on {name}", detail)
    if action == "rework":
        return _with(f"{who} sent {name} back for rework", detail)
    if action == "cancel" or to_lane == "backlog":
        return f"{name} was cancelled by {who} — back in the backlog"
    where = LANE_WORDS.get(str(to_lane), str(to_lane))
    return f"{who} moved {name} to {where}"


def _edit(row: Mapping[str, Any], who: str, name: str, detail: str) -> str:
    action = row.get("action")
    changed = {c.strip() for c in str(row.get("summary") or "").split(",")}
    if action == "review" and "ready_for_human" in changed:
        return f"Reviewer passed {name} — ready for your approval"
    if action == "review" and "needs_human" in changed:
        return _with(f"Reviewer failed {name} again — it needs you", detail)
    if action == "review":
        return _with(f"Reviewer failed {name}", detail)
    if action == "escalate":
        return _with(f"{name} needs you", detail)
    fields = ", ".join(sorted(c for c in changed if c))
    return f"{who} edited {name}" + (f" ({fields})" if fields else "")


def activity_text(row: Mapping[str, Any]) -> str:
    """The event as one line a person reads."""
    kind = row.get("kind")
    who = _subject(row)
    name = str(row.get("title") or row.get("project_id") or "the board")
    detail = str(row.get("detail") or "")
    summary = first_line(row.get("summary"))
    if kind == "move":
        return _move(row, who, name, detail)
    if kind == "edit":
        return _edit(row, who, name, detail)
    if kind == "approve":
        return f"{who} approved {name} — done"
    if kind == "create":
        where = LANE_WORDS.get(str(row.get("to_lane")), "the board")
        return f"{who} added {name} to {where}"
    if kind == "delete":
        return f"{who} deleted {name}"
    if kind == "comment":
        return _with(f"{who} commented on {name}", summary)
    if kind == "invalid":
        return _with(f"{name}: the file does not validate", summary)
    if kind == "violation":
        return _with(f"Refused {who}'s change to {name}", summary)
    if kind == "resolved":
        return f"{name}: git is back in line with the board"
    if kind == "budget":
        return _with(who, summary)
    return _with(f"{who}: {kind} {name}", summary)
