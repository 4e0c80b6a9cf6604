"""Line comments on a coder project's change: which lines may carry one, when one is
resolved, and how the open ones go back to the agent ("Request changes").

A comment is made on lines of the diff as it is now (mc.pipeline.diff): the path must
be a file of the diff, and every line of the range must be a line the diff shows on that
side. The server, not the request, quotes those lines and notes the branch head: the
quote is what the person saw, whatever the branch does later.

The resolution rule (``still_open``): a comment made on commit C is looked at again
only once the diff ends at another commit (a later run). It stays open while its quoted
lines still appear, consecutively and unchanged, on the same side of that file's diff
(at any line numbers: a run that inserts lines above does not resolve it). It is
resolved when they do not: the run changed or removed those lines, or the file is no
longer in the diff. A commented context line that a later run leaves alone but that no
longer falls inside a hunk counts as resolved too (the diff cannot tell it from a
changed one); a person can reopen the talk with a new comment.
"""

from __future__ import annotations

from typing import Any

from mc.board.board import Board
from mc.errors import NotInDiff
from mc.mirror import db, diffcomments
from mc.mirror.diffcomments import LineComment
from mc.pipeline.diff import Diff, Side, project_diff

MAX_RANGE = 500  # lines one comment may cover
QUOTE_MAX = 20_000  # characters of code one comment may quote
QUOTE_IN_NOTES = 40  # quoted lines per comment in the notes sent back
NOTES_MAX = 19_000  # the project file's feedback holds 20,000 characters


def comment_on(diff: Diff, path: str, side: Side, start: int, end: int, text: str) -> LineComment:
    """A comment on ``start``–``end`` of ``path`` (``side``) of ``diff``; NotInDiff
    naming the field when the path or a line is not in it."""
    found = diff.file(path)
    if found is None:
        raise NotInDiff(f"path: {path[:200]!r} is not a file of this change")
    if found.binary:
        raise NotInDiff(f"path: {path[:200]!r} is a binary file (no lines to comment on)")
    if start < 1:
        raise NotInDiff(f"start: expected a line number from 1, got {start}")
    if end < start:
        raise NotInDiff(f"end: {end} is before start {start}")
    if end - start >= MAX_RANGE:
        raise NotInDiff(f"end: a comment covers at most {MAX_RANGE} lines")
    lines = found.lines_on(side)
    missing = [n for n in range(start, end + 1) if n not in lines]
    if missing:
        field = "start" if missing[0] == start else "end"
        raise NotInDiff(
            f"{field}: line {missing[0]} of the {side} {path[:200]!r} is not in the diff"
        )
    if not text.strip():
        raise NotInDiff("text: empty")
    quote = "\n".join(lines[n] for n in range(start, end + 1))
    if len(quote) > QUOTE_MAX:  # kept whole or refused: a cut quote would never match again
        raise NotInDiff(f"end: lines {start}-{end} hold over {QUOTE_MAX} characters; take fewer")
    return LineComment(
        found.path if side == "new" else (found.old_path or found.path),
        side,
        start,
        end,
        quote,
        diff.head or "",
        text.strip(),
    )


def still_open(diff: Diff, comment: dict[str, Any]) -> bool:
    """The rule of the module's docstring: the quoted lines are still in the diff."""
    found = diff.file(comment["path"])
    if found is None:
        return False
    lines = found.lines_on(comment["side"])
    quoted = comment["quote"].split("\n")
    return any(all(lines.get(n + i) == q for i, q in enumerate(quoted)) for n in lines)


def reconcile(conn: db.Connection, project_id: str, diff: Diff) -> list[dict[str, Any]]:
    """The project's line comments, those a later run resolved marked so (and stored)."""
    rows = diffcomments.listing(conn, project_id)
    if diff.head is None:
        return rows
    out = []
    for row in rows:
        if row["resolved_at"] is None and row["commit"] != diff.head and not still_open(diff, row):
            row = diffcomments.resolve(conn, project_id, row["id"], "run", diff.head) or row
        out.append(row)
    return out


def where(comment: dict[str, Any]) -> str:
    """``file:line`` or ``file:start-end`` (the old side says so)."""
    lines = f"{comment['start_line']}"
    if comment["end_line"] != comment["start_line"]:
        lines += f"-{comment['end_line']}"
    return f"{comment['path']}:{lines}" + (
        " (old side, before the change)" if comment["side"] == "old" else ""
    )


def change_request(comments: list[dict[str, Any]], note: str) -> str:
    """The notes a rework carries: the person's general note, then each open line
    comment as ``file:line``, the quoted code and what the person wrote."""
    parts = [note.strip()] if note.strip() else []
    open_ones = [c for c in comments if c["resolved_at"] is None]
    for n, c in enumerate(open_ones):
        quoted = c["quote"].split("\n")
        shown = quoted[:QUOTE_IN_NOTES]
        if len(quoted) > len(shown):
            shown.append(f"... ({len(quoted) - len(shown)} more lines)")
        block = "\n".join(
            [
                f"- {where(c)}",
                "  ```",
                *(f"  {q}" for q in shown),
                "  ```",
                *(f"  {t}" for t in c["text"].split("\n")),
            ]
        )
        if sum(len(p) + 2 for p in parts) + len(block) > NOTES_MAX:
            parts.append(f"({len(open_ones) - n} more line comments on the project's page)")
            break
        parts.append(block)
    return "\n\n".join(parts)


def rework_notes(board: Board, conn: db.Connection, project_id: str, note: str) -> str:
    """The notes "Request changes" (web) and ``mc project rework`` (CLI) send: the note
    with the project's open line comments (none for a project without a change)."""
    return change_request(reconcile(conn, project_id, project_diff(board, project_id)), note)
