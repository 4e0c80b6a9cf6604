"""What a history has accepted so far (see Trust)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mc.board import rules
from mc.board.commits import CommitInfo, actor_for
from mc.board.git import FileChange
from mc.board.layout import (
    CONFIG_FILE,
    GPG_DIR,
    SIGNERS_PATH,
    is_signers_path,
)
from mc.board.rules import Actor

if TYPE_CHECKING:
    from mc.board.audit import Auditor, Violation


class Trust:
    """What a history has accepted so far: who may sign, and the board's settings.

    A commit is judged by the allowed signers, GPG keys and mc.yaml that the history
    before it accepted. That is its git parent's, unless a change to them was refused:
    then the last accepted ones stay in force until a legitimate change replaces them. So
    a key added by an unsigned commit never signs a later approval (issue 12.3), and a
    flagged mc.yaml never runs (12.1). A change back to the accepted text is no change.
    One class for every layer that replays history (verify, pre-receive, the mirror).
    """

    def __init__(self, signers: str | None = None, config: str | None = None) -> None:
        self.signers = signers  # the accepted allowed_signers text (None: git's, so far)
        self.config = config  # the accepted mc.yaml blob (None: git's, so far)
        self.gpg_base: str | None = None  # the commit whose .mc/gpg is accepted (None: git's)
        # (commit, reason) of a refused mc.yaml change git still holds (None: none)
        self.refused: tuple[str, str] | None = None

    def judge_signature(
        self, auditor: Auditor, info: CommitInfo, actor: Actor, signers: str
    ) -> tuple[Actor, str]:
        """Who ``info`` is from under the accepted signers (git judged it by its parent's)."""
        if (self.signers is None or self.signers == signers) and self.gpg_base is None:
            return actor, signers
        signers = self.signers if self.signers is not None else signers
        if not info.signed:
            return rules.HUMAN, signers
        from mc.board import signing

        base = self.gpg_base or (info.parents[0] if info.parents else info.sha)
        keyring = auditor._keyring(signing.gpg_key_files(auditor.cat, base).items())
        try:
            sig = signing.verify(auditor.repo, [info.sha], signers, keyring).get(info.sha)
        finally:
            if keyring is not None:
                keyring.close()
        return actor_for(info, sig, signing.parse_allowed_signers(signers)), signers

    def changes(self, changes: Sequence[FileChange]) -> list[FileChange]:
        """The change set from the accepted state: a refused mc.yaml or signers file is
        judged from what was accepted, and a return to it is no change."""
        out = []
        for ch in changes:
            if ch.path == CONFIG_FILE and self.config is not None:
                if ch.new == self.config:
                    continue
                ch = ch._replace(old=self.config)
            elif (
                ch.path == SIGNERS_PATH
                and self.signers is not None
                and ch.new == _blob_sha(self.signers.encode())
            ):
                continue
            out.append(ch)
        return out

    def config_spec(self, sha: str, changes: Sequence[FileChange]) -> str:
        """The mc.yaml a commit's projects are judged with: its own when it changes it."""
        if self.config is None or any(ch.path == CONFIG_FILE for ch in changes):
            return f"{sha}:{CONFIG_FILE}"
        return self.config

    def after(
        self,
        info: CommitInfo,
        raw: Sequence[FileChange],
        judged: Sequence[FileChange],
        violations: Sequence[Violation],
        signers: str,
    ) -> None:
        """Take in what ``info`` changed, as far as the rules allowed it."""
        config = next((ch for ch in raw if ch.path == CONFIG_FILE), None)
        if config is not None:
            refused = [v for v in violations if _about_config(v)]
            if refused:
                if self.config is None:
                    self.config = config.old
                self.refused = (info.sha, refused[0].message)
            else:
                self.config = config.new
                self.refused = None
        if any(is_signers_path(v.path or "") for v in violations):
            self.signers = signers
            if any((v.path or "").startswith(GPG_DIR + "/") for v in violations):
                self.gpg_base = self.gpg_base or (info.parents[0] if info.parents else None)
        elif any(is_signers_path(ch.path) for ch in judged):
            self.signers = None  # accepted: git's from here on
            self.gpg_base = None


def _about_config(v: Violation) -> bool:
    return v.path == CONFIG_FILE or (v.path is None and v.message.startswith(CONFIG_FILE + ":"))


def _blob_sha(data: bytes) -> str:
    """The id git gives a blob with these bytes (SHA-1 repositories)."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
