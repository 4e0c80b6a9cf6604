"""A commit as the rules see it: its parents, trailers, tree, author and whether it is
signed; and who it is proven to be from (its signature decides, trailers only name the
role)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from mc.board import rules
from mc.board.rules import Actor, Role

_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$")


class CommitInfo(NamedTuple):
    sha: str
    parents: list[str]
    message: str
    trailers: dict[str, str]
    tree: str = ""
    author: str = ""  # the author's name
    time: int = 0  # committer time, seconds since the epoch
    signed: bool = False  # the commit object carries a signature


def parse_commit(sha: str, data: bytes) -> CommitInfo:
    header, _, body = data.partition(b"\n\n")
    parents = [
        line.split()[1].decode() for line in header.splitlines() if line.startswith(b"parent ")
    ]
    message = body.decode("utf-8", "replace")
    tree, author, when, signed = "", "", 0, False
    for line in header.splitlines():
        if line.startswith(b"tree "):
            tree = line[5:].decode()
        elif line.startswith(b"author "):
            author = line[7:].decode("utf-8", "replace").rsplit(" <", 1)[0]
        elif line.startswith(b"committer "):
            parts = line.rsplit(b" ", 2)
            when = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0
        elif line.startswith((b"gpgsig ", b"gpgsig-sha256 ")):
            signed = True
    return CommitInfo(sha, parents, message, trailers(message), tree, author, when, signed)


def trailers(message: str) -> dict[str, str]:
    """Git-style trailers: the key: value lines of the message's last paragraph."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out = {}
    for line in paragraphs[-1].splitlines():
        m = _TRAILER.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def actor_for(info: CommitInfo, sig: object, signer_lines: Sequence[object]) -> Actor:
    """Who a commit is proven to be from: its signature decides, trailers only name the role."""
    from mc.board.signing import SERVICE_PRINCIPAL, Signature

    if isinstance(sig, Signature) and sig.good:
        if sig.signer == SERVICE_PRINCIPAL:
            role = info.trailers.get("Mc-Actor", "")
            if role in (Role.DISPATCHER.value, Role.EXECUTOR.value, Role.REVIEWER.value):
                return Actor(Role(role), SERVICE_PRINCIPAL)
            return Actor(Role.HUMAN, SERVICE_PRINCIPAL)
        return Actor(Role.APPROVER, sig.signer)
    return rules.HUMAN
