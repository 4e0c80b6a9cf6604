"""Who signed a commit, and whether that signer may approve or act as the service.

The board's ``.mc/allowed_signers`` (ssh-keygen's allowed-signers format) lists the
service key under the principal ``mc-service`` and every approver under their own
name. Verification is git's own (``%G?``/``%GS`` with ``gpg.ssh.allowedSignersFile``),
always against the allowed-signers file of the commit's parent, so a commit cannot
vouch for itself by adding its own key.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidInput, SigningError
from .git import Repo

SERVICE_PRINCIPAL = "mc-service"
ALLOWED_SIGNERS = ".mc/allowed_signers"
SERVICE_KEY = ".mc/service_key"  # private part: git-ignored, never committed
NAMESPACE = 'namespaces="git"'

HOW_TO_SIGN = (
    "set one up: git config --global gpg.format ssh && "
    "git config --global user.signingkey ~/.ssh/id_ed25519.pub "
    "(then add it with mc approvers add NAME ~/.ssh/id_ed25519.pub)"
)


@dataclass(frozen=True)
class SignerLine:
    principals: tuple[str, ...]
    key: str  # "<type> <base64>"


_KEY_TYPE = r"(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+)"
# principals [options] keytype base64 [comment]; options may hold quoted spaces.
_SIGNER_LINE = re.compile(
    rf'^(?P<principals>\S+)\s+(?:(?P<options>(?:[^\s"]|"[^"]*")+)\s+)?'
    rf"(?P<type>{_KEY_TYPE})\s+(?P<key>[A-Za-z0-9+/=]+)(?:\s.*)?$"
)


class UnreadableSigners(ValueError):
    """A line of the allowed-signers file could not be read."""


def parse_allowed_signers(text: str, strict: bool = False) -> list[SignerLine]:
    """The key lines of an allowed-signers file.

    ``strict``: raise UnreadableSigners on a line we cannot read, so callers that
    decide who may change the file can fail closed rather than miss an approver.
    """
    lines = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        m = _SIGNER_LINE.match(raw)
        if m is None:
            if strict:
                raise UnreadableSigners(raw[:60])
            continue
        principals = tuple(p for p in m.group("principals").split(",") if p)
        lines.append(SignerLine(principals, f"{m.group('type')} {m.group('key')}"))
    return lines


def approver_count(text: str) -> int:
    """How many approvers a file names; an unreadable line counts as one (fail closed)."""
    try:
        return len(approvers(parse_allowed_signers(text, strict=True)))
    except UnreadableSigners:
        return max(1, len(approvers(parse_allowed_signers(text))))


def approvers(lines: Iterable[SignerLine]) -> dict[str, str]:
    """Approver keys -> principal (everyone but the service)."""
    out = {}
    for line in lines:
        names = [p for p in line.principals if p != SERVICE_PRINCIPAL]
        if names:
            out[line.key] = names[0]
    return out


def service_keys(lines: Iterable[SignerLine]) -> set[str]:
    return {line.key for line in lines if SERVICE_PRINCIPAL in line.principals}


def signer_line(principal: str, public_key: str) -> str:
    return f"{principal} {NAMESPACE} {normalise_key(public_key)}"


def normalise_key(public_key: str) -> str:
    """'<type> <base64>' from a public key line (drops options and comment)."""
    fields = public_key.strip().removeprefix("key::").split()
    for i, f in enumerate(fields):
        if f.startswith(("ssh-", "ecdsa-", "sk-")) and i + 1 < len(fields):
            return f"{f} {fields[i + 1]}"
    raise InvalidInput(f"not an SSH public key: {public_key.strip()[:60]!r}")


def read_public_key(path: Path) -> str:
    """The public key for a key file (its .pub, or derived from the private key)."""
    path = path.expanduser()
    candidates = [path] if path.suffix == ".pub" else [path.with_name(path.name + ".pub"), path]
    for candidate in candidates:
        if candidate.is_file():
            text = candidate.read_text(errors="replace")
            if text.lstrip().startswith(("ssh-", "ecdsa-", "sk-")):
                return normalise_key(text)
    if path.is_file():
        proc = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(path)],
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode == 0:
            return normalise_key(proc.stdout.decode())
    raise SigningError(f"cannot read a public key from {path}")


def make_service_key(board_root: Path) -> str:
    """Create the board's ed25519 service key; return its public key."""
    key = board_root / SERVICE_KEY
    key.parent.mkdir(parents=True, exist_ok=True)
    if not key.exists():
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                SERVICE_PRINCIPAL,
                "-f",
                str(key),
            ],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        os.chmod(key, 0o600)
    return read_public_key(key)


def service_sign_config(key: Path) -> list[str]:
    """git -c options that make commit-tree -S sign with the service key."""
    return [
        "gpg.format=ssh",
        f"user.signingkey={key}",
        "gpg.ssh.program=ssh-keygen",
    ]


@dataclass(frozen=True)
class PersonKey:
    """The person's git signing configuration."""

    format: str  # "ssh" or "openpgp"
    public_key: str | None  # ssh: "<type> <base64>"


def person_key(repo: Repo) -> PersonKey:
    """The signing key git is configured with, or SigningError saying how to set one up."""
    fmt = (repo.config_get("gpg.format") or "openpgp").lower()
    key = repo.config_get("user.signingkey")
    if fmt == "ssh":
        if not key:
            raise SigningError(f"no signing key configured: {HOW_TO_SIGN}")
        if key.startswith(("key::", "ssh-", "ecdsa-", "sk-")):
            return PersonKey("ssh", normalise_key(key))
        return PersonKey("ssh", read_public_key(Path(key)))
    if fmt == "openpgp":
        if not key:
            raise SigningError(f"no signing key configured: {HOW_TO_SIGN}")
        return PersonKey("openpgp", None)
    raise SigningError(f"gpg.format {fmt} is not supported for approvals: use ssh or openpgp")


@dataclass(frozen=True)
class Signature:
    status: str  # git's %G?: G good, B bad, U unknown key, N none, ...
    signer: str | None  # the principal the allowed-signers file names

    @property
    def good(self) -> bool:
        return self.status == "G" and bool(self.signer)


def verify(repo: Repo, commits: Sequence[str], allowed_signers: str) -> dict[str, Signature]:
    """Check the signatures of ``commits`` against one allowed-signers text."""
    if not commits:
        return {}
    with tempfile.NamedTemporaryFile("w", prefix="mc-signers-", suffix=".txt", delete=False) as f:
        f.write(allowed_signers)
        signers_path = f.name
    try:
        proc = repo.run(
            "log",
            "--no-walk=unsorted",
            "--format=%H %G? %GS",
            "--stdin",
            input=("\n".join(commits) + "\n").encode(),
            config=[f"gpg.ssh.allowedSignersFile={signers_path}"],
        )
    finally:
        os.unlink(signers_path)
    out = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2 and len(parts[0]) == 40:
            signer = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
            out[parts[0]] = Signature(parts[1], signer)
    return out


SIGNERS_FILE_HINT = (
    "an approver adds it with: mc approvers add NAME PUBLIC_KEY_FILE "
    "(the first approver can add themselves)"
)
