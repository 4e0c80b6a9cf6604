"""Who signed a commit, and whether that signer may approve or act as the service.

The board's ``.mc/allowed_signers`` (ssh-keygen's allowed-signers format) lists the
service key under the principal ``mc-service`` and every SSH approver under their own
name; ``.mc/gpg/<name>.asc`` holds the OpenPGP public key of a GPG approver (the file
name is the principal). Verification is git's own (``%G?``/``%GS`` with
``gpg.ssh.allowedSignersFile``; for OpenPGP, ``%GF``/``%GP`` against a throwaway
GNUPGHOME holding only the board's keys), always against the keys of the commit's
parent, so a commit cannot vouch for itself by adding its own key.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from mc.board.git import CatFile, Repo
from mc.board.layout import GPG_DIR, SERVICE_KEY_PATH
from mc.errors import InvalidInput, SigningError

SERVICE_PRINCIPAL = "mc-service"
NAMESPACE = 'namespaces="git"'
GPG = "gpg"
PRINCIPAL = re.compile(r"[A-Za-z0-9._@+-]{1,100}")


def how_to_sign(name: str = "NAME") -> str:
    """One line of the exact commands that give the person an SSH signing key git uses.

    The key is made only if ~/.ssh/id_ed25519 does not exist yet; ``mc approvers add``
    makes it an approver (on a board that has approvers, one of them runs it).
    """
    public = "~/.ssh/id_ed25519.pub"
    make = (
        ""
        if Path(public).expanduser().exists()
        else "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 && "
    )
    return (
        f"{make}git config --global gpg.format ssh && "
        f"git config --global user.signingkey {public} && mc approvers add {name} {public}"
    )


def valid_principal(name: str) -> bool:
    """A name an approver may have (the service's own is not one)."""
    return PRINCIPAL.fullmatch(name) is not None and name != SERVICE_PRINCIPAL


class SignerLine(NamedTuple):
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
    """Approver keys -> principal (everyone but the service).

    A key listed twice keeps its first principal, as git's verification does.
    """
    out: dict[str, str] = {}
    for line in lines:
        names = [p for p in line.principals if p != SERVICE_PRINCIPAL]
        if names:
            out.setdefault(line.key, names[0])
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
    key = board_root / SERVICE_KEY_PATH
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


class PersonKey(NamedTuple):
    """The person's git signing configuration."""

    format: str  # "ssh" or "openpgp"
    public_key: str | None  # ssh: "<type> <base64>"
    fingerprint: str | None = None  # openpgp: the primary key's fingerprint


def person_key(repo: Repo) -> PersonKey:
    """The signing key git is configured with, or SigningError saying how to set one up."""
    fmt = (repo.config_get("gpg.format") or "openpgp").lower()
    key = repo.config_get("user.signingkey")
    if fmt == "ssh":
        if not key:
            raise SigningError(f"no signing key; set one up: {how_to_sign()}")
        if key.startswith(("key::", "ssh-", "ecdsa-", "sk-")):
            return PersonKey("ssh", normalise_key(key))
        return PersonKey("ssh", read_public_key(Path(key)))
    if fmt == "openpgp":
        # Without user.signingkey git asks gpg for the committer: "Name <email>".
        name = _committer(repo, "name")
        email = _committer(repo, "email")
        committer = f"{name} <{email}>" if name else f"<{email}>"
        wanted = key or (committer if email else None)
        if not wanted:
            raise SigningError(f"no signing key; set one up: {how_to_sign()}")
        try:
            fingerprint = gpg_fingerprint(wanted, gpg_program(repo))
        except SigningError:
            if key:
                raise
            fingerprint = None  # no gpg at all: the person has no key yet
        if fingerprint is None:
            if key:
                raise SigningError(
                    f"gpg has no signing key {key} (user.signingkey; see gpg --list-secret-keys)"
                )
            if repo.config_get("gpg.format") is None:  # nothing set up: no GPG detail
                raise SigningError(f"no signing key; set one up: {how_to_sign()}")
            raise SigningError(
                f"no signing key (no user.signingkey, and gpg has no key for {committer}); "
                f"set one up: {how_to_sign()}"
            )
        return PersonKey("openpgp", None, fingerprint)
    raise SigningError(f"gpg.format {fmt} is not supported for approvals: use ssh or openpgp")


def _committer(repo: Repo, what: str) -> str | None:
    """The committer's name or email as git takes it (environment, committer.*, user.*)."""
    return (
        os.environ.get(f"GIT_COMMITTER_{what.upper()}")
        or repo.config_get(f"committer.{what}")
        or repo.config_get(f"user.{what}")
    )


# ---------------------------------------------------------------------- OpenPGP


def gpg_program(repo: Repo) -> str:
    """The gpg git signs with (gpg.openpgp.program, gpg.program, else gpg)."""
    return repo.config_get("gpg.openpgp.program") or repo.config_get("gpg.program") or GPG


def _gpg(
    args: Sequence[str], *, input: bytes | None = None, program: str = GPG
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            [program, "--batch", "--no-tty", *args],
            input=input,
            capture_output=True,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SigningError(
            f"{program} is not installed: GPG approver keys need GnuPG (apt install gnupg)"
        ) from None


def gpg_fingerprint(key_id: str, program: str = GPG) -> str | None:
    """The primary fingerprint of the first key gpg finds for ``key_id`` that can sign."""
    proc = _gpg(["--with-colons", "--fingerprint", "--", key_id], program=program)
    usable = False
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if fields[0] == "pub" and len(fields) > 11:
            # Validity e/r/d/i: expired, revoked, disabled, invalid; S: the key can sign.
            usable = fields[1] not in ("e", "r", "d", "i") and "S" in fields[11]
        elif fields[0] == "fpr" and usable and len(fields) > 9:
            return fields[9].upper()
        elif fields[0] in ("sub", "uid"):
            usable = False
    return None


def export_gpg_key(key_id: str, program: str = GPG) -> str:
    """``gpg --armor --export KEYID``: the public key, armored."""
    proc = _gpg(["--armor", "--export", "--", key_id], program=program)
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or "BEGIN PGP PUBLIC KEY BLOCK" not in text:
        raise InvalidInput(f"gpg has no public key {key_id!r} to export (see gpg --list-keys)")
    return text


class Keyring(NamedTuple):
    """A throwaway GNUPGHOME holding the board's GPG approver keys, and whose they are."""

    home: str
    principals: dict[str, str]  # primary key fingerprint -> principal

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def gpg_keyring(keys: Mapping[str, bytes]) -> Keyring:
    """Import each approver's key (principal -> armored public key) into a new GNUPGHOME.

    A key file holding a secret key is skipped; the first principal (by name) wins a
    fingerprint two files share. The caller closes the keyring.
    """
    home = tempfile.mkdtemp(prefix="mc-gnupg-")  # 0700, as gpg wants it
    try:
        # Public keys only: no gpg-agent, no keyboxd (an empty common.conf keeps 2.4 off it).
        Path(home, "common.conf").write_text("")
        Path(home, "gpg.conf").write_text("no-autostart\n")
        principals: dict[str, str] = {}
        for name in sorted(keys):
            data = keys[name]
            if b"PRIVATE KEY" in data:
                continue
            proc = _gpg(["--homedir", home, "--status-fd", "1", "--import"], input=data)
            for line in proc.stdout.decode("utf-8", "replace").splitlines():
                fields = line.split()
                if len(fields) >= 4 and fields[:2] == ["[GNUPG:]", "IMPORT_OK"]:
                    principals.setdefault(fields[3].upper(), name)
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return Keyring(home, principals)


def tree_entries(data: bytes) -> list[tuple[str, str, str]]:
    """(mode, name, sha) of a raw git tree object, as ``cat-file --batch`` gives it."""
    out = []
    i = 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        out.append((data[i:space].decode(), name, data[nul + 1 : nul + 21].hex()))
        i = nul + 21
    return out


def gpg_key_files(cat: CatFile, rev: str) -> dict[str, str]:
    """Every ``.mc/gpg/*.asc`` at ``rev``: file name -> object sha (valid principal or not)."""
    return asc_files(cat.read(f"{rev}:{GPG_DIR}"))


def asc_files(obj: tuple[str, str, bytes] | None) -> dict[str, str]:
    """The ``*.asc`` entries of a ``.mc/gpg`` tree as CatFile read it (None: no folder)."""
    if obj is None or obj[1] != "tree":
        return {}
    return {name: sha for mode, name, sha in tree_entries(obj[2]) if name.endswith(".asc")}


def read_gpg_keys(cat: CatFile, files: Iterable[tuple[str, str]]) -> dict[str, bytes]:
    """Principal -> armored key for (file name, sha) pairs of .mc/gpg (valid names only)."""
    keys = {}
    for name, sha in sorted(files):
        principal = name.removesuffix(".asc")
        obj = cat.read(sha) if valid_principal(principal) else None
        if obj is not None and obj[1] == "blob":
            keys[principal] = obj[2]
    return keys


def gpg_approvers(cat: CatFile, rev: str) -> dict[str, str]:
    """Primary key fingerprint -> principal for the GPG approvers at ``rev`` (runs gpg)."""
    keys = read_gpg_keys(cat, gpg_key_files(cat, rev).items())
    if not keys:
        return {}
    keyring = gpg_keyring(keys)
    try:
        return dict(keyring.principals)
    finally:
        keyring.close()


class Signature(NamedTuple):
    status: str  # git's %G?: G good, B bad, U good but unknown trust/key, N none, ...
    signer: str | None  # the principal the board names for the signing key, if it names one

    @property
    def good(self) -> bool:
        # U: a good OpenPGP signature from a key the throwaway keyring cannot trust (it
        # holds no trust); verify names a signer only for the board's own keys.
        return self.status in ("G", "U") and bool(self.signer)


def verify(
    repo: Repo, commits: Sequence[str], allowed_signers: str, keyring: Keyring | None = None
) -> dict[str, Signature]:
    """Check the signatures of ``commits`` against one allowed-signers text (and GPG keyring).

    SSH: git names the principal from the allowed-signers file. OpenPGP: a good
    signature whose key (or primary key) is one of ``keyring``'s; without a keyring, or
    from any other key, no signer (whatever the ambient GnuPG keyring trusts).
    """
    if not commits:
        return {}
    with tempfile.NamedTemporaryFile("w", prefix="mc-signers-", suffix=".txt", delete=False) as f:
        f.write(allowed_signers)
        signers_path = f.name
    try:
        records = repo.signature_records(
            commits,
            signers_path,
            env={"GNUPGHOME": keyring.home} if keyring is not None else None,
        )
    finally:
        os.unlink(signers_path)
    out = {}
    for parts in records:
        if len(parts) == 5 and len(parts[0]) == 40:
            sha, status, fingerprint, primary, name = parts
            signer = None
            if fingerprint.startswith("SHA256:"):  # SSH: the allowed-signers principal
                if status == "G":
                    signer = name.strip() or None
            elif keyring is not None and status in ("G", "U"):
                signer = keyring.principals.get(primary.upper()) or keyring.principals.get(
                    fingerprint.upper()
                )
            out[sha] = Signature(status, signer)
    return out


SIGNERS_FILE_HINT = (
    "an approver adds it with: mc approvers add NAME PUBLIC_KEY_FILE "
    "(the first approver can add themselves)"
)
GPG_KEYS_HINT = (
    "an approver adds it with: mc approvers add NAME --gpg {key} "
    "(the first approver can add themselves)"
)
