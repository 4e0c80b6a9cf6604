"""What agents produced for a project: the files under artifacts/<id>/ at the tip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from mc.board.board import Board
from mc.board.layout import artifacts_dir, artifacts_prefix
from mc.errors import NotFound

SHOWN = 200  # a listing stops here
TEXT_MAX = 512 * 1024  # bigger files are listed, not read


class Artifact(NamedTuple):
    path: str  # relative to artifacts/<id>/
    size: int
    kind: str  # text, patch or binary
    text: str | None  # the content, when it is text and at most TEXT_MAX


def files(board: Board, project_id: str) -> Iterator[tuple[str, str]]:
    """(path relative to artifacts/<id>/, blob) of each artifact at the tip."""
    tip = board.tip
    if tip is None:
        return
    for entry in board.repo.ls_tree(tip, [artifacts_dir(project_id)]):
        yield entry.path.removeprefix(artifacts_prefix(project_id)), entry.sha


def listing(board: Board, project_id: str) -> list[Artifact]:
    """The first SHOWN artifacts, the text ones read (for the page and the API)."""
    board.get(project_id)  # ProjectNotFound for an unknown id
    out = []
    for n, (path, blob) in enumerate(files(board, project_id)):
        if n == SHOWN:
            break
        out.append(_artifact(board, path, blob))
    return out


def read(board: Board, project_id: str, path: str) -> Artifact:
    """One artifact (its text read when it is text); NotFound when there is none."""
    board.get(project_id)
    for found, blob in files(board, project_id):
        if found == path:
            return _artifact(board, path, blob)
    raise NotFound(f"{project_id} has no artifact {path!r}")


def _artifact(board: Board, path: str, blob: str) -> Artifact:
    size = board.cat.size(blob) or 0
    kind, text = "binary", None
    if size <= TEXT_MAX:  # bigger ones are listed, not read
        data = board.read_blob(blob) or b""
        if b"\0" not in data:
            try:
                text = data.decode("utf-8")
                kind = "patch" if path.endswith((".patch", ".diff")) else "text"
            except UnicodeDecodeError:
                pass
    return Artifact(path, size, kind, text)
