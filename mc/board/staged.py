"""The pre-commit hook's view: the index against HEAD, judged as the person's next commit,
and whether git will sign it."""

from __future__ import annotations

import os

from mc.board import rules
from mc.board.audit import Auditor, Violation
from mc.board.git import CatFile, Repo, parse_raw_diff
from mc.board.layout import (
    CONFIG_FILE,
    LANE_NAMES_ORDERED,
    SIGNERS_PATH,
    Lane,
    PathKind,
    classify,
    is_signers_path,
)
from mc.board.rules import Actor, Role


def check_staged(repo: Repo) -> list[Violation]:
    """What the pre-commit hook checks: the index against HEAD, as a person's commit."""
    changes = parse_raw_diff(repo.staged_raw_changes()).get("", [])
    if not changes:
        return []
    auditor = Auditor(repo)
    try:
        listing: dict[str, list[Lane]] | None = None

        def lanes_of(pid: str) -> list[Lane]:
            nonlocal listing
            if listing is None:
                listing = {}
                for path in repo.indexed_paths(LANE_NAMES_ORDERED):
                    kind, lane, file_id = classify(path)
                    if kind is PathKind.PROJECT and lane is not None and file_id is not None:
                        listing.setdefault(file_id, []).append(lane)
            return listing.get(pid, [])

        signer, head, signers = None, None, None
        if any(ch.path == CONFIG_FILE or is_signers_path(ch.path) for ch in changes):
            head = auditor.cat.resolve("HEAD")
            if head is not None:
                signers = (auditor._read_spec(f"{head}:{SIGNERS_PATH}") or b"").decode(
                    "utf-8", "replace"
                )
                signer = staged_signer(repo, auditor.cat, head, signers)
        return auditor.check_changes(
            None,
            changes,
            lanes_of,
            parent=head,
            signers_before=signers,
            config_spec=":mc.yaml",
            signer=signer,
        )
    finally:
        auditor.close()


def staged_signer(repo: Repo, cat: CatFile, head: str, signers: str) -> Actor:
    """Who the commit being made will be signed as, for pre-commit (git signs it later).

    Git tells a hook nothing of ``-S``: it is read from the committing git's own command
    line (``/proc/<parent>/cmdline``), else ``commit.gpgsign`` (which sees ``git -c``).
    Signed with the person's configured key: an approver if that key is one at HEAD.
    """
    from mc.board import signing
    from mc.errors import SigningError

    if not _will_sign(repo):
        return rules.HUMAN
    try:
        key = signing.person_key(repo)
    except SigningError:
        return rules.HUMAN
    if key.format == "openpgp" and key.fingerprint is not None:
        principal = signing.gpg_approvers(cat, head).get(key.fingerprint)
    else:
        principal = signing.approvers(signing.parse_allowed_signers(signers)).get(
            key.public_key or ""
        )
    return Actor(Role.APPROVER, principal) if principal else rules.HUMAN


# git commit's options that take their value as the next argument
_VALUED = frozenset(
    [
        "-m",
        "-F",
        "-C",
        "-c",
        "-t",
        "--message",
        "--file",
        "--author",
        "--date",
        "--template",
        "--reuse-message",
        "--reedit-message",
        "--fixup",
        "--squash",
        "--trailer",
        "--cleanup",
        "--pathspec-from-file",
    ]
)


def _will_sign(repo: Repo) -> bool:
    """Whether the running ``git commit`` signs: its -S/--gpg-sign/--no-gpg-sign, else config."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            argv = [a.decode("utf-8", "replace") for a in fh.read().split(b"\0")]
    except OSError:
        argv = []
    if "commit" in argv:
        chosen, value = None, False
        for arg in argv[argv.index("commit") + 1 :]:
            if value:  # the value of an option such as -m is never a flag
                value = False
                continue
            if arg == "--":
                break
            if arg in _VALUED:
                value = True
            elif arg.startswith(("-S", "--gpg-sign")):
                chosen = True
            elif arg == "--no-gpg-sign":
                chosen = False
        if chosen is not None:
            return chosen
    return repo.config_bool("commit.gpgsign")
