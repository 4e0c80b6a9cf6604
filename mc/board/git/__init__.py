"""The only code that runs git: plain plumbing through subprocesses.

Faster than GitPython for what the board does (its object traversal is ~10x slower
than ``cat-file --batch``) and with git's own semantics (signing, ref compare-and-swap,
hooks bypassed). Stdlib only: the git hooks import it. ``repo``: a repository and the
commands mc runs in it; ``objects``: reading and writing objects, trees and diffs.
"""

from mc.board.git.objects import (
    EMPTY_TREE,
    CatFile,
    FileChange,
    ObjectWriter,
    blob_id,
    build_tree,
    diff_trees,
    format_tree,
    object_id,
    parse_raw_diff,
    parse_tree,
    tree_has,
)
from mc.board.git.repo import ZERO, Repo, TreeEntry, find_repo, init_repo

__all__ = [
    "EMPTY_TREE",
    "ZERO",
    "CatFile",
    "FileChange",
    "ObjectWriter",
    "Repo",
    "TreeEntry",
    "blob_id",
    "build_tree",
    "diff_trees",
    "find_repo",
    "format_tree",
    "init_repo",
    "object_id",
    "parse_raw_diff",
    "parse_tree",
    "tree_has",
]
