"""mc/signing.py and `mc approve`: who signed, who may approve, and what an approval is."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mc.board import actions
from mc.board.board import Board
from mc.board.git import Repo, find_repo
from mc.board.signing import (
    SERVICE_PRINCIPAL,
    SignerLine,
    approvers,
    normalise_key,
    parse_allowed_signers,
    person_key,
    read_public_key,
    service_keys,
    signer_line,
    verify,
)
from mc.errors import InvalidInput, SigningError

from ..conftest import Key, git, head, run_mc, to_review, write

K1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne"
K2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITwo"
K3 = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAThree"
K4 = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tFour"
K5 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFive"


# ---------------------------------------------------------------------- allowed signers


def test_parse_allowed_signers_comments_options_principals() -> None:
    text = (
        "# Who may sign what on this board.\n"
        "\n"
        "   # an indented comment\n"
        f'mc-service namespaces="git" {K1}\n'
        f"alice@example.com,alice {K2} alice at her laptop\n"
        f'bob valid-after="20240101",namespaces="git,file" {K3}\n'
        f"carol cert-authority {K4}\n"
        "broken line without a key\n"
        f"dave {K5.split()[0]}\n"  # a key type without its base64: skipped
    )
    assert parse_allowed_signers(text) == [
        SignerLine(("mc-service",), K1),
        SignerLine(("alice@example.com", "alice"), K2),
        SignerLine(("bob",), K3),
        SignerLine(("carol",), K4),
    ]


def test_parse_allowed_signers_comment_with_a_quote() -> None:
    """A trailing comment is free text (git/ssh-keygen accept `alice's laptop`): the line
    still names alice, or mc and git disagree about who the approvers are."""
    text = f"alice {K2} alice's laptop\nbob {K3} \"bob\n"
    assert parse_allowed_signers(text) == [
        SignerLine(("alice",), K2),
        SignerLine(("bob",), K3),
    ]


def test_parse_allowed_signers_principal_that_looks_like_a_key_type() -> None:
    """The first field is always the principals, even when a name starts with ssh-/sk-
    (mc approvers add accepts such names)."""
    text = f'ssh-ops namespaces="git" {K1}\nsk-team {K2}\n'
    assert parse_allowed_signers(text) == [
        SignerLine(("ssh-ops",), K1),
        SignerLine(("sk-team",), K2),
    ]


def test_parse_allowed_signers_of_a_new_board(board_path: Path, keys: dict[str, Key]) -> None:
    lines = parse_allowed_signers((board_path / ".mc" / "allowed_signers").read_text())
    service = read_public_key(board_path / ".mc" / "service_key.pub")
    assert lines == [
        SignerLine((SERVICE_PRINCIPAL,), service),
        SignerLine(("alice@example.com",), normalise_key(keys["alice"].public_text)),
    ]


def test_approvers_excludes_mc_service() -> None:
    lines = parse_allowed_signers(
        f"mc-service {K1}\nalice@example.com,alice {K2}\nmc-service,bob {K3}\n"
    )
    assert approvers(lines) == {K2: "alice@example.com", K3: "bob"}
    assert service_keys(lines) == {K1, K3}
    assert approvers(parse_allowed_signers(f"mc-service {K1}\n")) == {}


def test_signer_line_round_trips() -> None:
    line = signer_line("alice", f"{K2} alice@laptop")
    assert line == f'alice namespaces="git" {K2}'
    assert parse_allowed_signers(line) == [SignerLine(("alice",), K2)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (K1, K1),
        (f"  {K1} alice@laptop  \n", K1),
        (f"key::{K2}", K2),
        (f'alice namespaces="git" {K3}', K3),
        (K4 + " yubikey", K4),
    ],
)
def test_normalise_key(given: str, expected: str) -> None:
    assert normalise_key(given) == expected


@pytest.mark.parametrize("given", ["", "hello world", "ssh-ed25519", "-----BEGIN OPENSSH"])
def test_normalise_key_refuses_what_is_not_a_key(given: str) -> None:
    with pytest.raises(InvalidInput, match="not an SSH public key"):
        normalise_key(given)


# ---------------------------------------------------------------------- key files


def test_read_public_key_from_pub(keys: dict[str, Key]) -> None:
    expected = " ".join(keys["alice"].public_text.split()[:2])
    assert read_public_key(keys["alice"].public) == expected


def test_read_public_key_from_private_key(keys: dict[str, Key], tmp_path: Path) -> None:
    expected = " ".join(keys["bob"].public_text.split()[:2])
    # Next to its .pub.
    assert read_public_key(keys["bob"].private) == expected
    # Alone: derived from the private key with ssh-keygen -y.
    alone = tmp_path / "lonely"
    alone.mkdir()
    private = alone / "id_ed25519"
    shutil.copy2(keys["bob"].private, private)
    assert not private.with_name("id_ed25519.pub").exists()
    assert read_public_key(private) == expected


def test_read_public_key_errors(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match="cannot read a public key"):
        read_public_key(tmp_path / "missing")
    junk = write(tmp_path / "junk", "not a key\n")
    with pytest.raises(SigningError, match="cannot read a public key"):
        read_public_key(junk)


# ---------------------------------------------------------------------- the person's key


def _unset_global(key: str) -> None:
    subprocess.run(["git", "config", "--global", "--unset", key], check=True)


def _set_global(key: str, value: str) -> None:
    subprocess.run(["git", "config", "--global", key, value], check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(path))
    return find_repo(path)


def test_person_key_from_config(repo: Repo, keys: dict[str, Key]) -> None:
    key = person_key(repo)
    assert key.format == "ssh"
    assert key.public_key == normalise_key(keys["alice"].public_text)
    # A literal key in user.signingkey.
    _set_global("user.signingkey", f"key::{keys['bob'].public_text}")
    assert person_key(repo).public_key == normalise_key(keys["bob"].public_text)
    # A private key path.
    _set_global("user.signingkey", str(keys["mallory"].private))
    assert person_key(repo).public_key == normalise_key(keys["mallory"].public_text)


def test_person_key_without_a_key_says_how_to_set_one_up(repo: Repo) -> None:
    _unset_global("user.signingkey")
    with pytest.raises(SigningError) as caught:
        person_key(repo)
    message = str(caught.value)
    # One line of the exact commands: make a key (there is none), tell git, add it.
    assert "\n" not in message
    assert message == (
        "no signing key; set one up: ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519 && "
        "git config --global gpg.format ssh && "
        "git config --global user.signingkey ~/.ssh/id_ed25519.pub && "
        "mc approvers add NAME ~/.ssh/id_ed25519.pub"
    )
    # With a key already in ~/.ssh, it is not made again.
    ssh = Path.home() / ".ssh"
    ssh.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")], check=True
    )
    with pytest.raises(SigningError) as caught:
        person_key(repo)
    assert "ssh-keygen" not in str(caught.value)
    assert "user.signingkey ~/.ssh/id_ed25519.pub" in str(caught.value)
    # The same without gpg.format (git's default: openpgp).
    _unset_global("gpg.format")
    with pytest.raises(SigningError, match="no signing key"):
        person_key(repo)


def test_person_key_unsupported_format(repo: Repo) -> None:
    _set_global("gpg.format", "x509")
    with pytest.raises(SigningError, match="x509 is not supported"):
        person_key(repo)


# ---------------------------------------------------------------------- verify


def _commit(path: Path, name: str, *, sign: bool = False, key: Path | None = None) -> str:
    write(path / name, name + "\n")
    git(path, "add", name)
    config = ["-c", f"user.signingkey={key}"] if key else []
    git(path, *config, "commit", "-q", "-m", name, *(["-S"] if sign or key else []))
    return head(path)


def test_verify_signatures(repo: Repo, keys: dict[str, Key]) -> None:
    path = repo.root
    by_alice = _commit(path, "a", sign=True)
    by_mallory = _commit(path, "m", key=keys["mallory"].public)
    by_bob = _commit(path, "b", key=keys["bob"].private)
    unsigned = _commit(path, "u")
    signers = (
        f"alice@example.com {keys['alice'].public_text}\n"
        f'bob,robert namespaces="git" {keys["bob"].public_text}\n'
    )
    sigs = verify(repo, [by_alice, by_mallory, by_bob, unsigned], signers)
    assert set(sigs) == {by_alice, by_mallory, by_bob, unsigned}
    assert (sigs[by_alice].status, sigs[by_alice].signer) == ("G", "alice@example.com")
    assert sigs[by_alice].good
    assert sigs[by_bob].status == "G" and sigs[by_bob].signer in ("bob", "robert")
    assert not sigs[by_mallory].good
    assert sigs[by_mallory].signer is None
    assert not sigs[unsigned].good and sigs[unsigned].status == "N"
    assert verify(repo, [], signers) == {}


def test_verify_judges_by_the_given_signers_only(repo: Repo, keys: dict[str, Key]) -> None:
    signed = _commit(repo.root, "a", sign=True)
    assert not verify(repo, [signed], f"bob {keys['bob'].public_text}\n")[signed].good
    assert not verify(repo, [signed], "")[signed].good
    # A namespace other than git's does not count.
    text = f'alice namespaces="file" {keys["alice"].public_text}\n'
    assert not verify(repo, [signed], text)[signed].good


# ---------------------------------------------------------------------- mc approve


def _assert_refused(board_path: Path, pid: str, *phrases: str) -> None:
    before = head(board_path)
    lane_files = sorted(git(board_path, "ls-files", "*.yaml").stdout.split())
    proc = run_mc(board_path, "approve", pid)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.startswith("mc: ") and "\n" not in err, proc.stderr
    assert "Traceback" not in proc.stderr
    for phrase in phrases:
        assert phrase in err
    assert proc.stdout == ""
    assert head(board_path) == before
    assert sorted(git(board_path, "ls-files", "*.yaml").stdout.split()) == lane_files
    assert not (board_path / "done" / f"{pid}.yaml").exists()


def test_approve_refused_without_a_signing_key(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    _unset_global("user.signingkey")
    _assert_refused(board_path, "p", "no signing key", "ssh-keygen -t ed25519", "user.signingkey")


def test_approve_refused_for_a_key_that_is_not_an_approver(
    board: Board, board_path: Path, keys: dict[str, Key]
) -> None:
    to_review(board, "p")
    _set_global("user.signingkey", str(keys["mallory"].public))
    _assert_refused(board_path, "p", "not an approver of this board", "mc approvers add")


def test_approve_refused_after_a_failing_review_in_review(board: Board, board_path: Path) -> None:
    actions.new_project(board, "P", "coder", project_id="p")
    actions.queue(board, "p")
    actions.dispatch(board, "p", "1")
    actions.complete(board, "p", "1", {"report.md": b"# Done\n"})
    actions.record_review(board, "p", "2", "fail", "broken", rework=False, escalate="rounds spent")
    assert (board_path / "review" / "p.yaml").is_file()
    _assert_refused(board_path, "p", "p is not ready_for_human")


def test_approve_refused_after_a_failing_review_sent_back(board: Board, board_path: Path) -> None:
    to_review(board, "p", verdict="fail")
    assert (board_path / "in-progress" / "p.yaml").is_file()
    _assert_refused(board_path, "p", "in-progress", "only a project in review can be approved")


def test_approve_refused_in_backlog(board: Board, board_path: Path) -> None:
    actions.new_project(board, "P", "coder", project_id="p")
    _assert_refused(board_path, "p", "p is in backlog")


def test_approve_refused_for_unknown_project(board_path: Path) -> None:
    _assert_refused(board_path, "nope", "nope")


def test_approve_makes_a_signed_commit(board: Board, board_path: Path) -> None:
    to_review(board, "p")
    reviewed = git(board_path, "log", "-1", "--format=%H", "--", "review/p.yaml").stdout.strip()
    assert "Mc-Action: review" in git(board_path, "log", "-1", "--format=%B", reviewed).stdout
    before = head(board_path)

    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode == 0, proc.stderr
    sha = head(board_path)
    assert sha != before and sha[:12] in proc.stdout
    assert git(board_path, "rev-parse", "HEAD^").stdout.strip() == before
    assert git(board_path, "log", "-1", "--format=%G?%GS").stdout.strip() == "Galice@example.com"

    def trailer(key: str) -> str:
        fmt = f"--format=%(trailers:key={key},valueonly)"
        return git(board_path, "log", "-1", fmt).stdout.strip()

    assert trailer("Mc-Action") == "approve"
    assert trailer("Mc-Reviewed-Commit") == reviewed
    assert trailer("Mc-Review-Job") == "2"

    changed = git(board_path, "diff-tree", "--no-commit-id", "-r", "--name-status", "HEAD")
    assert sorted(changed.stdout.split()) == sorted(["D", "review/p.yaml", "A", "done/p.yaml"])
    data = yaml.safe_load((board_path / "done" / "p.yaml").read_text())
    assert data["approved"]["by"] == "alice@example.com"
    at = data["approved"]["at"]
    assert isinstance(at, dt.datetime)
    assert abs((dt.datetime.now(dt.UTC) - at).total_seconds()) < 120
    reviewed_data = yaml.safe_load(git(board_path, "show", f"{reviewed}:review/p.yaml").stdout)
    assert {k: v for k, v in data.items() if k != "approved"} == reviewed_data
    assert git(board_path, "status", "--porcelain").stdout == ""
    assert run_mc(board_path, "verify").returncode == 0


def test_second_approver_added_by_alice_can_approve(
    board: Board, board_path: Path, keys: dict[str, Key]
) -> None:
    actions.add_approver(board, "bob", keys["bob"].public_text)
    assert git(board_path, "log", "-1", "--format=%G?%GS").stdout.strip() == "Galice@example.com"
    to_review(board, "p")
    _set_global("user.signingkey", str(keys["bob"].public))
    proc = run_mc(board_path, "approve", "p")
    assert proc.returncode == 0, proc.stderr
    assert git(board_path, "log", "-1", "--format=%G?%GS").stdout.strip() == "Gbob"
    data = yaml.safe_load((board_path / "done" / "p.yaml").read_text())
    assert data["approved"]["by"] == "bob"
