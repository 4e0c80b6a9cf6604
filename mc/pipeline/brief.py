"""The brief an agent gets: the project's title, brief, acceptance criteria, the notes
of the last review or of the person, its linked tasks, and where its folders are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mc.board.board import Board
from mc.pipeline.jobs import Job, JobKind


def render_brief(
    board: Board,
    project_id: str,
    job: Job,
    tasks: list[Any],
    *,
    workspace: Path | None = None,
    output_dir: Path | None = None,
) -> str:
    """The brief an agent gets. It names its folders by their paths: a model's file tools
    take paths, and cannot expand $MC_OUTPUT_DIR."""
    entry = board.get(project_id)
    assert entry.project is not None
    data = entry.project.data
    lines = [f"# {entry.project.title}", "", f"Project `{project_id}` ({data['archetype']})."]
    if job.kind == JobKind.REVIEW:
        lines += [
            "",
            "You are the reviewer. Judge the work below against the brief and the acceptance "
            f"criteria. Write verdict.json into {output_dir or '$MC_OUTPUT_DIR'}: "
            '{"verdict": "pass"|"fail", "notes": "..."}. The artifacts are in ./artifacts.',
        ]
    if data.get("description"):
        lines += ["", "## Brief", "", str(data["description"]).strip()]
    if data.get("acceptance"):
        lines += ["", "## Acceptance criteria", "", *(f"- {a}" for a in data["acceptance"])]
    review = entry.project.review
    if job.kind == JobKind.WORK and job.notes:
        lines += ["", "## Notes from the last review (fix these)", "", job.notes]
    elif job.kind == JobKind.WORK and review is not None and review.notes and not review.passed:
        lines += ["", "## Notes from the last review (fix these)", "", review.notes]
    if job.kind == JobKind.WORK and data.get("feedback"):
        # The person's rework notes: a general note, then line comments on the change
        # as `file:line` with the quoted code (mc.pipeline.linecomments.change_request).
        lines += ["", "## Requested changes (from the person)", "", str(data["feedback"]).strip()]
    if tasks:
        lines += ["", "## Linked tasks", "", *(f"- {t.title}" for t in tasks)]
    lines.append("")
    if workspace is not None:
        lines.append(f"You work in {workspace}.")
    lines.append(f"Leave what you produce in {output_dir or '$MC_OUTPUT_DIR'}.")
    return "\n".join(lines) + "\n"
