"""Approvers with OpenPGP (GPG) signing keys, with real gpg keys and real commits (DESIGN §3).

A GPG approver is ``.mc/gpg/<name>.asc`` on the board. A commit signed with OpenPGP is
judged by the keys its parent has there, in a throwaway keyring: whatever the
verifier's own GnuPG keyring trusts does not count.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from mc.board import actions, signing
from mc.board.audit import Auditor
from mc.board.board import Board
from mc.board.git import find_repo
from mc.board.hooks.install import install_server
from mc.board.init import init
from mc.board.store import Store, Transition, person_identity
from mc.errors import InvalidInput, NotAnApprover, SigningError, TransitionRefused

from ..conftest import Key, git, head, run_mc, to_review, write


@dataclass(frozen=True)
class GpgKey:
    name: str
    fingerprint: str
    armored: str


@dataclass(frozen=True)
class GnuPG:
    home: Path
    keys: dict[str, GpgKey]


@pytest.fixture(scope="session")
def gnupg_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GnuPG]:
    """One GnuPG home for the session: gina (an approver in the tests) and mel (nobody)."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}

    def gpg(*args: str) -> str:
        proc = subprocess.run(["gpg", "--batch", *args], env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    keys = {}
    for name, uid in (("gina", "Gina <gina@example.com>"), ("mel", "Mel <mel@example.com>")):
        gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
        listing = gpg("--with-colons", "--fingerprint", f"<{name}@example.com>")
        fingerprint = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr"))
        keys[name] = GpgKey(name, fingerprint, gpg("--armor", "--export", fingerprint))
    yield GnuPG(home, keys)
    # Signing started a gpg-agent for this home: stop it.
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)


@pytest.fixture
def gpg_keys(gnupg_home: GnuPG, monkeypatch: pytest.MonkeyPatch) -> dict[str, GpgKey]:
    """The session's keys, with GNUPGHOME pointing at them (the person's own keyring)."""
    monkeypatch.setenv("GNUPGHOME", str(gnupg_home.home))
    return gnupg_home.keys


def _set_global(key: str, value: str) -> None:
    subprocess.run(["git", "config", "--global", key, value], check=True)


def _unset_global(key: str) -> None:
    subprocess.run(["git", "config", "--global", "--unset", key], check=False)


def sign_with_gpg(key: GpgKey) -> None:
    """The person's git signs with this OpenPGP key from now on."""
    _set_global("gpg.format", "openpgp")
    _set_global("user.signingkey", key.fingerprint)


def signature(path: Path, rev: str = "HEAD") -> str:
    """git's own %G?/%GP, with the person's keyring (which trusts its own keys)."""
    return git(path, "log", "-1", "--format=%G? %GP", rev).stdout.strip()


def review_commit(path: Path, pid: str) -> str:
    return git(
        path, "log", "-1", "--format=%H", "-E", "--grep=^Mc-Action: review$", f"review/{pid}.yaml"
    ).stdout.strip()


def gpg_hand_approval(
    clone: Path, pid: str, key: GpgKey, extra: dict[str, str] | None = None
) -> str:
    """An approval made by hand, shaped like `mc approve`'s, signed with ``key``; its sha."""
    reviewed = review_commit(clone, pid)
    text = (clone / "review" / f"{pid}.yaml").read_text()
    git(clone, "rm", "-q", f"review/{pid}.yaml")
    write(
        clone / "done" / f"{pid}.yaml",
        text + f"approved:\n  by: {key.name}\n  at: 2026-01-02 03:04:05+00:00\n",
    )
    git(clone, "add", f"done/{pid}.yaml")
    for path, content in (extra or {}).items():
        write(clone / path, content)
        git(clone, "add", "-f", path)
    message = (
        f"Approve {pid}\n\nMc-Action: approve\nMc-Actor: human\nMc-Project: {pid}\n"
        f"Mc-Reviewed-Commit: {reviewed}\nMc-Review-Job: 2\n"
    )
    git(
        clone,
        "-c",
        "gpg.format=openpgp",
        "-c",
        f"user.signingkey={key.fingerprint}",
        "commit",
        "-q",
        "--no-verify",
        "-S",
        "-m",
        message,
    )
    sha = head(clone)
    assert "BEGIN PGP SIGNATURE" in git(clone, "cat-file", "commit", sha).stdout
    return sha


def with_gina(board: Board, gpg_keys: dict[str, GpgKey]) -> None:
    """gina becomes a GPG approver (alice, the SSH approver, signs that change)."""
    actions.add_gpg_approver(board, "gina", gpg_keys["gina"].armored)


# ---------------------------------------------------------------------- mc approve


def test_approve_with_a_gpg_approver_key(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    gina = gpg_keys["gina"]
    with_gina(board, gpg_keys)
    assert git(board_path, "show", "HEAD:.mc/gpg/gina.asc").stdout.strip() == gina.armored.strip()
    to_review(board, "p")
    sign_with_gpg(gina)
    before = head(board_path)

    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode == 0, proc.stderr
    sha = head(board_path)
    assert sha != before and sha[:12] in proc.stdout
    assert "BEGIN PGP SIGNATURE" in git(board_path, "cat-file", "commit", sha).stdout
    assert signature(board_path) == f"G {gina.fingerprint}"
    # The board's own check: gina's key from the parent's .mc/gpg, in a throwaway keyring.
    keyring = signing.gpg_keyring({"gina": gina.armored.encode()})
    try:
        sig = signing.verify(board.repo, [sha], "", keyring)[sha]
    finally:
        keyring.close()
    assert sig.status == "U"  # good signature; the throwaway keyring holds no trust
    assert sig.good and sig.signer == "gina"

    data = yaml.safe_load(git(board_path, "show", "HEAD:done/p.yaml").stdout)
    assert data["approved"]["by"] == "gina"
    changed = git(board_path, "diff-tree", "--no-commit-id", "-r", "--name-only", "HEAD")
    assert sorted(changed.stdout.split()) == ["done/p.yaml", "review/p.yaml"]
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 0, proc.stdout
    assert ", 0 violations" in proc.stdout


def test_approve_with_gpg_default_key_of_user_email(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    """Without user.signingkey git signs with the committer's key: so does mc approve."""
    with_gina(board, gpg_keys)
    to_review(board, "p")
    _set_global("gpg.format", "openpgp")
    _unset_global("user.signingkey")
    _set_global("user.name", "Gina")
    _set_global("user.email", "gina@example.com")
    assert signing.person_key(board.repo).fingerprint == gpg_keys["gina"].fingerprint
    actions.approve(board, "p")
    assert signature(board_path) == f"G {gpg_keys['gina'].fingerprint}"
    assert yaml.safe_load((board_path / "done" / "p.yaml").read_text())["approved"]["by"] == "gina"


@pytest.mark.parametrize("listed", [True, False], ids=["gina-listed", "no-gpg-approvers"])
def test_approve_refused_for_an_unlisted_gpg_key(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey], listed: bool
) -> None:
    if listed:
        with_gina(board, gpg_keys)
    to_review(board, "p")
    mel = gpg_keys["mel"]
    sign_with_gpg(mel)
    before = head(board_path)
    with pytest.raises(NotAnApprover) as caught:
        actions.approve(board, "p")
    message = str(caught.value)
    assert mel.fingerprint in message and "not an approver of this board" in message
    assert f"mc approvers add NAME --gpg {mel.fingerprint}" in message
    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr.startswith("mc: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "not an approver of this board" in proc.stderr
    assert head(board_path) == before
    assert (board_path / "review" / "p.yaml").is_file()
    assert not (board_path / "done" / "p.yaml").exists()


def test_person_key_openpgp(board: Board, gpg_keys: dict[str, GpgKey]) -> None:
    gina = gpg_keys["gina"]
    sign_with_gpg(gina)
    assert signing.person_key(board.repo) == signing.PersonKey("openpgp", None, gina.fingerprint)
    _set_global("user.signingkey", "gina@example.com")  # any id gpg understands
    assert signing.person_key(board.repo).fingerprint == gina.fingerprint
    _set_global("user.signingkey", "0123456789ABCDEF0123456789ABCDEF01234567")
    with pytest.raises(SigningError, match="gpg has no signing key 0123456789ABCDEF"):
        signing.person_key(board.repo)
    _unset_global("user.signingkey")
    _set_global("user.email", "nobody@example.com")
    with pytest.raises(SigningError) as caught:
        signing.person_key(board.repo)
    message = str(caught.value)
    assert "no signing key" in message
    assert "gpg has no key for Alice <nobody@example.com>" in message
    # How to set one up, in one line: the SSH commands (the shortest way to a key).
    assert "gpg.format ssh" in message and "user.signingkey ~/.ssh/id_ed25519.pub" in message
    assert "\n" not in message


# ---------------------------------------------------------------------- mc verify


def test_verify_accepts_a_hand_made_gpg_approval_by_gina(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    """The control for the refusals below: the same commit, signed by gina, is fine."""
    with_gina(board, gpg_keys)
    to_review(board, "p")
    gpg_hand_approval(board_path, "p", gpg_keys["gina"])
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("listed", [True, False], ids=["gina-listed", "no-gpg-approvers"])
def test_verify_flags_a_move_to_done_signed_by_an_unlisted_gpg_key(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey], listed: bool
) -> None:
    """mel's key is ultimately trusted in the verifier's own keyring: that does not count."""
    if listed:
        with_gina(board, gpg_keys)
    to_review(board, "p")
    bad = gpg_hand_approval(board_path, "p", gpg_keys["mel"])
    assert signature(board_path) == f"G {gpg_keys['mel'].fingerprint}"
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"{bad[:12]}: done/p.yaml" in proc.stdout
    assert "1 violation" in proc.stdout


def test_a_commit_cannot_vouch_for_its_own_gpg_key(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    """Adding mel's key and approving with it in one commit: judged by the parent's keys."""
    with_gina(board, gpg_keys)
    to_review(board, "p")
    bad = gpg_hand_approval(
        board_path, "p", gpg_keys["mel"], extra={".mc/gpg/mel.asc": gpg_keys["mel"].armored}
    )
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"{bad[:12]}: done/p.yaml" in proc.stdout
    assert f"{bad[:12]}: .mc/gpg/mel.asc: " in proc.stdout
    assert "signed by an existing approver" in proc.stdout


def test_a_gpg_key_file_named_mc_service_is_not_the_service(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    """Only the service key in allowed_signers is the service; .mc/gpg/mc-service.asc is nobody."""
    mel = gpg_keys["mel"]
    actions.new_project(board, "X", "coder", project_id="x")
    actions.queue(board, "x")
    write(board_path / ".mc" / "gpg" / "mc-service.asc", mel.armored)
    git(board_path, "add", "-f", ".mc/gpg/mc-service.asc")
    git(board_path, "commit", "-q", "--no-verify", "-S", "-m", "mel as the service")  # alice signs
    git(board_path, "mv", "up-next/x.yaml", "in-progress/x.yaml")
    message = "Dispatch x (job 7)\n\nMc-Action: dispatch\nMc-Actor: dispatcher\nMc-Job: 7\n"
    git(
        board_path,
        "-c",
        "gpg.format=openpgp",
        "-c",
        f"user.signingkey={mel.fingerprint}",
        "commit",
        "-q",
        "--no-verify",
        "-S",
        "-m",
        message,
    )
    bad = head(board_path)
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"{bad[:12]}: in-progress/x.yaml" in proc.stdout
    assert "1 violation" in proc.stdout


def test_no_gpg_keys_no_gpg(
    board: Board, board_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A board without GPG approvers never builds a keyring (the SSH path is unchanged)."""

    def refuse(keys: object) -> signing.Keyring:
        raise AssertionError("a keyring was built")

    monkeypatch.setattr(signing, "gpg_keyring", refuse)
    to_review(board, "p")
    actions.approve(board, "p")  # alice, SSH
    commits = git(board_path, "rev-list", "--reverse", "HEAD").stdout.split()
    assert Auditor(board.repo, board.cat).check_commits(commits) == []


def test_keyrings_are_removed(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey], tmp_path: Path
) -> None:
    with_gina(board, gpg_keys)
    to_review(board, "p")
    gpg_hand_approval(board_path, "p", gpg_keys["gina"])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_mc(board_path, "verify", env={"TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stdout
    assert list(tmp.iterdir()) == []


# ---------------------------------------------------------------------- server pre-receive


@dataclass(frozen=True)
class Server:
    bare: Path
    clone: Path

    def tip(self) -> str:
        return git(self.bare, "--git-dir", str(self.bare), "rev-parse", "main").stdout.strip()


@pytest.fixture
def server(board_path: Path, tmp_path: Path) -> Callable[[], Server]:
    """Make a bare copy of the board (as it is then) with pre-receive, and a clone of it."""

    def make() -> Server:
        bare = tmp_path / "server.git"
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", "--bare", str(board_path), str(bare))
        install_server(find_repo(bare))
        git(tmp_path, "clone", "-q", str(bare), str(clone))
        return Server(bare, clone)

    return make


def test_server_accepts_a_gpg_approval(
    board: Board, gpg_keys: dict[str, GpgKey], server: Callable[[], Server]
) -> None:
    with_gina(board, gpg_keys)
    to_review(board, "p")
    srv = server()
    sign_with_gpg(gpg_keys["gina"])
    proc = run_mc(srv.clone, "approve", "p")
    assert proc.returncode == 0, proc.stderr
    proc = git(srv.clone, "push", "origin", "main", check=False)
    assert proc.returncode == 0, proc.stderr
    assert srv.tip() == head(srv.clone)


@pytest.mark.parametrize("listed", [True, False], ids=["gina-listed", "no-gpg-approvers"])
def test_server_rejects_an_approval_signed_by_an_unlisted_gpg_key(
    board: Board, gpg_keys: dict[str, GpgKey], server: Callable[[], Server], listed: bool
) -> None:
    if listed:
        with_gina(board, gpg_keys)
    to_review(board, "p")
    srv = server()
    before = srv.tip()
    bad = gpg_hand_approval(srv.clone, "p", gpg_keys["mel"])
    proc = git(srv.clone, "push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert "pre-receive hook declined" in proc.stderr
    assert f"{bad[:12]}: done/p.yaml" in proc.stderr
    assert srv.tip() == before


def test_server_rejects_an_unsigned_gpg_approver_change(
    board: Board, gpg_keys: dict[str, GpgKey], server: Callable[[], Server]
) -> None:
    srv = server()
    before = srv.tip()
    write(srv.clone / ".mc" / "gpg" / "mel.asc", gpg_keys["mel"].armored)
    git(srv.clone, "add", "-f", ".mc/gpg/mel.asc")
    git(srv.clone, "commit", "-q", "--no-verify", "-m", "add mel")
    bad = head(srv.clone)
    proc = git(srv.clone, "push", "origin", "main", check=False)
    assert proc.returncode != 0
    assert f"{bad[:12]}: .mc/gpg/mel.asc: " in proc.stderr
    assert "signed by an existing approver" in proc.stderr
    assert srv.tip() == before


# ---------------------------------------------------------------------- adding GPG approvers


def test_adding_a_gpg_approver_unsigned_is_refused(
    board: Board, board_path: Path, gpg_keys: dict[str, GpgKey]
) -> None:
    before = head(board_path)
    mel = gpg_keys["mel"]
    # mel signs with a key that is not an approver's: mc refuses before committing.
    sign_with_gpg(mel)
    with pytest.raises(NotAnApprover):
        actions.add_gpg_approver(board, "mel", mel.armored)
    # The store refuses an unsigned change to .mc/gpg/ by itself, too.
    with pytest.raises(TransitionRefused, match="signed by an existing approver"):
        Store(board).apply(
            lambda tip: Transition(
                None, "approvers", "Add mel", {".mc/gpg/mel.asc": mel.armored.encode()}
            ),
            person_identity(board),
        )
    assert head(board_path) == before
    assert not (board_path / ".mc" / "gpg").exists()
    # By hand with --no-verify: mc verify flags it.
    write(board_path / ".mc" / "gpg" / "mel.asc", mel.armored)
    git(board_path, "add", "-f", ".mc/gpg/mel.asc")  # the skeleton's .gitignore has .mc/*
    git(board_path, "commit", "-q", "--no-verify", "-m", "add mel")
    proc = run_mc(board_path, "verify")
    assert proc.returncode == 1
    assert f"{head(board_path)[:12]}: .mc/gpg/mel.asc: " in proc.stdout


def test_gpg_approvers_count_as_approvers(
    tmp_path: Path, gpg_keys: dict[str, GpgKey], keys: dict[str, Key]
) -> None:
    """A board whose only approver is a GPG key: adding an SSH approver needs its signature."""
    _unset_global("user.signingkey")
    path = tmp_path / "gpg-board"
    assert init(path).approver is None
    with Board.open(path) as board:
        # The first approver: nobody to vouch for them yet, so unsigned is fine.
        actions.add_gpg_approver(board, "gina", gpg_keys["gina"].armored)
        assert signature(path) == "N"
        with pytest.raises(SigningError, match="no signing key"):
            actions.add_approver(board, "bob", keys["bob"].public_text)
        with pytest.raises(TransitionRefused, match="signed by an existing approver"):
            Store(board).apply(
                lambda tip: Transition(
                    None,
                    "approvers",
                    "Add bob",
                    {".mc/allowed_signers": b"bob " + keys["bob"].public_text.encode() + b"\n"},
                ),
                person_identity(board),
            )
        sign_with_gpg(gpg_keys["gina"])
        actions.add_approver(board, "bob", keys["bob"].public_text)
        assert signature(path) == f"G {gpg_keys['gina'].fingerprint}"
    proc = run_mc(path, "verify")
    assert proc.returncode == 0, proc.stdout


def test_cli_approvers_add_gpg_and_list(
    board_path: Path, gpg_keys: dict[str, GpgKey], keys: dict[str, Key], tmp_path: Path
) -> None:
    gina, mel = gpg_keys["gina"], gpg_keys["mel"]
    # By key id: mc exports it with gpg. alice (SSH) signs the change.
    proc = run_mc(board_path, "approvers", "add", "gina", "--gpg", gina.fingerprint)
    assert proc.returncode == 0, proc.stderr
    assert "Added approver gina" in proc.stdout
    assert git(board_path, "log", "-1", "--format=%G?%GS").stdout.strip() == "Galice@example.com"
    changed = git(board_path, "diff-tree", "--no-commit-id", "-r", "--name-only", "HEAD")
    assert changed.stdout.split() == [".mc/gpg/gina.asc"]
    assert git(board_path, "status", "--porcelain").stdout == ""
    # From an .asc file.
    asc = write(tmp_path / "mel.asc", mel.armored)
    proc = run_mc(board_path, "approvers", "add", "mel", "--gpg", str(asc))
    assert proc.returncode == 0, proc.stderr

    proc = run_mc(board_path, "approvers", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = yaml.safe_load(proc.stdout)
    assert rows == [
        {"name": "alice@example.com", "key": signing.normalise_key(keys["alice"].public_text)},
        {"name": "gina", "key": f"openpgp {gina.fingerprint}"},
        {"name": "mel", "key": f"openpgp {mel.fingerprint}"},
    ]
    listing = run_mc(board_path, "approvers", "list").stdout
    assert f"gina\topenpgp {gina.fingerprint}\n" in listing
    assert "alice@example.com\tssh-ed25519 " in listing
    assert run_mc(board_path, "verify").returncode == 0

    before = head(board_path)
    for args, phrase in (
        (["gina2", "--gpg", gina.fingerprint], "already approver gina"),
        (["gina", "--gpg", str(asc)], ".mc/gpg/gina.asc already exists"),
        (["nobody", "--gpg", "0123456789ABCDEF0123456789ABCDEF01234567"], "no public key"),
        (["mc-service", "--gpg", gina.fingerprint], "NAME"),
        (["both", str(keys["bob"].public), "--gpg", gina.fingerprint], "not both"),
        (["neither"], "--gpg KEYID_OR_ASC_FILE"),
        (["junk", "--gpg", str(write(tmp_path / "junk.asc", "hello\n"))], "not an ASCII-armored"),
    ):
        proc = run_mc(board_path, "approvers", "add", *args)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith("mc: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert phrase in proc.stderr, (args, proc.stderr)
    assert head(board_path) == before


def test_add_gpg_approver_refuses_secret_keys_and_key_bundles(
    board: Board, gpg_keys: dict[str, GpgKey], gnupg_home: GnuPG
) -> None:
    both = gpg_keys["gina"].armored + gpg_keys["mel"].armored
    with pytest.raises(InvalidInput, match="holds 2 OpenPGP keys"):
        actions.add_gpg_approver(board, "two", both)
    secret = subprocess.run(
        ["gpg", "--batch", "--armor", "--export-secret-keys", gpg_keys["mel"].fingerprint],
        env={**os.environ, "GNUPGHOME": str(gnupg_home.home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with pytest.raises(InvalidInput, match="secret key"):
        actions.add_gpg_approver(board, "mel", secret)
