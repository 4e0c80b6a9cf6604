"""What people and the pipeline do to projects: each is one call, one commit.

The CLI, the web and the pipeline call these; they never write the board themselves.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from mc.board.board import Board, Entry
from mc.board.layout import (
    SIGNERS_PATH,
    TEMPLATES_DIR,
    Lane,
    artifacts_prefix,
    is_valid_id,
    project_path,
    template_path,
)
from mc.board.projectfile import DELETE, PIPELINE_KEYS, check_value, load, render_entry, set_keys
from mc.board.rules import Role, State
from mc.board.store import Committed, Identity, Store, Transition, person_identity, service_identity
from mc.errors import (
    InvalidInput,
    InvalidProjectFile,
    NotAnApprover,
    ProjectExists,
    ProjectNotFound,
    SigningError,
    StaleVersion,
    TransitionRefused,
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _entry_at(board: Board, project_id: str, tip: str | None) -> Entry:
    if tip is None:
        raise ProjectNotFound(f"no project {project_id!r}: the board has no commits yet")
    return board.get(project_id, tip)


def _text_of(board: Board, entry: Entry) -> str:
    data = board.read_blob(entry.blob) or b""
    return data.decode("utf-8")


# ---------------------------------------------------------------------- people


def slugify(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:48].strip("-")
    return slug or "project"


def templates(board: Board) -> dict[str, str]:
    """Template name -> file text, as the tip has them."""
    tip = board.tip
    if tip is None:
        return {}
    out = {}
    for entry in board.repo.ls_tree(tip, [TEMPLATES_DIR]):
        name = entry.path.removeprefix(TEMPLATES_DIR + "/")
        if entry.type == "blob" and name.endswith(".yaml") and "/" not in name:
            out[name[:-5]] = (board.read_blob(entry.sha) or b"").decode("utf-8", "replace")
    return out


def new_project(
    board: Board,
    title: str,
    archetype: str,
    *,
    project_id: str | None = None,
    template: str | None = None,
    fields: Mapping[str, Any] | None = None,
    lane: Lane = Lane.BACKLOG,
) -> Committed:
    """Add a project (from a template) to backlog or up-next."""
    config = board.config
    if archetype not in config.work_archetypes():
        raise InvalidInput(
            f"--archetype {archetype!r}: mc.yaml defines {', '.join(config.work_archetypes())}"
        )
    if project_id is not None and not is_valid_id(project_id):
        raise InvalidInput(
            f"--id {project_id!r}: ids are lowercase letters, digits and -, starting with a "
            "letter or digit, at most 64"
        )
    known = templates(board)
    if template is None:
        spec = config.archetypes[archetype].template
        template = spec if spec in known else archetype if archetype in known else None
    if template is not None and template not in known:
        raise InvalidInput(
            f"--template {template!r}: no {template_path(template)} "
            f"(there are: {', '.join(sorted(known)) or 'none'})"
        )
    base = known.get(template, "") if template else ""
    updates: dict[str, Any] = {"title": title, "archetype": archetype}
    for key, value in (fields or {}).items():
        if value is None:
            continue
        if key in PIPELINE_KEYS:
            raise InvalidInput(f"{key}: written only by the pipeline")
        updates[key] = check_value(key, value)
    check_value("title", title)
    text = _compose(base, updates)

    def build(tip: str | None) -> Transition:
        pid = project_id or _free_id(board, slugify(title), tip)
        if project_id and tip and board.snapshot(tip, ids=[pid]).locate(pid):
            raise ProjectExists(f"--id {pid}: a project with that id already exists")
        return Transition(
            pid,
            "create",
            f"New project {pid}: {title}",
            {project_path(lane, pid): text.encode()},
        )

    return Store(board).apply(build, person_identity(board))


def _compose(template_text: str, updates: Mapping[str, Any]) -> str:
    """A template with the person's values; the title always comes first."""
    body = template_text
    if body.strip():
        load_check = set_keys(body, {k: v for k, v in updates.items() if k != "title"})
        body = load_check
    else:
        body = "".join(render_entry(k, v) for k, v in updates.items() if k != "title")
    title_line = render_entry("title", updates["title"])
    if re.search(r"(?m)^title:", body):
        return set_keys(body, {"title": updates["title"]})
    # Keep a leading comment block (the template's explanation) above the title.
    lines = body.splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].startswith("#"):
        head += 1
    return "".join(lines[:head]) + title_line + "".join(lines[head:])


def _free_id(board: Board, base: str, tip: str | None) -> str:
    if tip is None:
        return base
    candidate, n = base, 2
    while board.snapshot(tip, ids=[candidate]).locate(candidate):
        candidate = f"{base[:60]}-{n}"
        n += 1
    return candidate


def edit(
    board: Board, project_id: str, updates: Mapping[str, Any], *, expect: str | None = None
) -> Committed:
    """Change person-owned fields (DELETE removes an optional one); with ``expect``, only
    if the file is still that blob (StaleVersion otherwise)."""
    if not updates:
        raise InvalidInput("nothing to change: give --set key=value")
    checked: dict[str, Any] = {}
    for key, value in updates.items():
        if key in PIPELINE_KEYS:
            raise InvalidInput(f"{key}: written only by the pipeline")
        if value is DELETE:
            if key in ("title", "archetype"):
                raise InvalidInput(f"{key}: required, cannot be removed")
            checked[key] = DELETE
        else:
            checked[key] = check_value(key, value)
    if "archetype" in checked and checked["archetype"] not in board.config.work_archetypes():
        raise InvalidInput(
            f"archetype {checked['archetype']!r}: mc.yaml defines "
            f"{', '.join(board.config.work_archetypes())}"
        )

    def build(tip: str | None) -> Transition:
        entry = _entry_at(board, project_id, tip)
        if expect is not None and entry.blob != expect:
            raise StaleVersion(f"{project_id} changed since you read it: reload it")
        if entry.project is None:
            raise InvalidProjectFile(f"{entry.error} — fix the file before editing it")
        before = _text_of(board, entry)
        text = set_keys(before, checked)
        if load(text, entry.path).data == entry.project.data:
            raise InvalidInput(f"{project_id} already has those values: nothing to change")
        return Transition(
            project_id,
            "edit",
            f"Edit {project_id}: {', '.join(checked)}",
            {entry.path: text.encode()},
        )

    return Store(board).apply(build, person_identity(board))


def move(
    board: Board,
    project_id: str,
    lane: Lane,
    action: str | None = None,
    updates: Mapping[str, Any] | None = None,
    *,
    expect: str | None = None,
) -> Committed:
    """A lane move a person may make: queue, rework (review → up-next) or cancel (→ backlog),
    with ``updates`` to person-owned fields in the same commit; with ``expect``, only if
    the file is still that blob."""

    def build(tip: str | None) -> Transition:
        entry = _entry_at(board, project_id, tip)
        if expect is not None and entry.blob != expect:
            raise StaleVersion(f"{project_id} changed since you read it: reload it")
        name = action or {
            Lane.UP_NEXT: "queue" if entry.lane is Lane.BACKLOG else "rework",
            Lane.BACKLOG: "cancel",
        }.get(lane, "move")
        if name == "rework" and entry.lane is not Lane.REVIEW:
            raise TransitionRefused(
                f"{project_id} is in {entry.lane.value}: only a project in review is sent "
                "back for rework"
            )
        if entry.lane is lane:
            raise TransitionRefused(f"{project_id} is already in {lane.value}")
        data = board.read_blob(entry.blob) or b""
        if updates:
            data = set_keys(data.decode("utf-8"), updates).encode("utf-8")
        return Transition(
            project_id,
            name,
            f"{name.capitalize()} {project_id}: {entry.lane.value} → {lane.value}",
            {entry.path: None, project_path(lane, project_id): data},
        )

    if lane is Lane.DONE:
        raise TransitionRefused(
            f"{project_id}: a move to done is refused: only an approval moves a project to "
            f"done (run mc approve {project_id})"
        )
    return Store(board).apply(build, person_identity(board))


def queue(board: Board, project_id: str) -> Committed:
    return move(board, project_id, Lane.UP_NEXT, "queue")


def rework(
    board: Board, project_id: str, notes: str = "", *, expect: str | None = None
) -> Committed:
    """review → up-next: the person sends the work back, with notes for the next run."""
    if notes.strip():
        check_value("feedback", notes)
    updates = {"feedback": notes} if notes.strip() else None
    return move(board, project_id, Lane.UP_NEXT, "rework", updates, expect=expect)


def cancel(board: Board, project_id: str) -> Committed:
    return move(board, project_id, Lane.BACKLOG, "cancel")


def delete(board: Board, project_id: str) -> Committed:
    def build(tip: str | None) -> Transition:
        entry = _entry_at(board, project_id, tip)
        return Transition(project_id, "delete", f"Delete {project_id}", {entry.path: None})

    return Store(board).apply(build, person_identity(board))


# ---------------------------------------------------------------------- approval


def approver_principal(board: Board) -> str:
    """The approver name of the person's signing key, or a refusal saying what to do."""
    from mc.board.signing import (
        GPG_KEYS_HINT,
        SIGNERS_FILE_HINT,
        approvers,
        gpg_approvers,
        parse_allowed_signers,
        person_key,
    )

    key = person_key(board.repo)
    if key.format == "openpgp" and key.fingerprint is not None:
        tip = board.tip
        principal = gpg_approvers(board.cat, tip).get(key.fingerprint) if tip else None
        if principal is None:
            raise NotAnApprover(
                f"your GPG signing key ({key.fingerprint}) is not an approver of this board: "
                + GPG_KEYS_HINT.format(key=key.fingerprint)
            )
        return principal
    if key.format != "ssh" or key.public_key is None:
        raise SigningError(
            "approvals are verified with SSH or OpenPGP signatures: git config gpg.format ssh && "
            "git config user.signingkey ~/.ssh/id_ed25519.pub"
        )
    text = (board.read_blob(f"{board.tip}:{SIGNERS_PATH}") or b"").decode("utf-8", "replace")
    principal = approvers(parse_allowed_signers(text)).get(key.public_key)
    if principal is None:
        raise NotAnApprover(
            f"your signing key ({key.public_key[:40]}…) is not an approver of this board: "
            f"{SIGNERS_FILE_HINT}"
        )
    return principal


def approvable(board: Board, project_id: str, tip: str | None, expect: str | None) -> Entry:
    """The project's entry if it may be approved now: in review, its review passed,
    (with ``expect``) still that blob; a refusal saying why otherwise."""
    entry = _entry_at(board, project_id, tip)
    if expect is not None and entry.blob != expect:
        raise StaleVersion(f"{project_id} changed since you read it: reload it")
    if entry.lane is not Lane.REVIEW:
        raise TransitionRefused(
            f"{project_id} is in {entry.lane.value}: only a project in review can be approved"
        )
    project = entry.project
    if project is None:
        raise TransitionRefused(f"{entry.error}")
    review = project.review
    if not project.ready_for_human or review is None or not review.passed:
        raise TransitionRefused(f"{project_id} is not ready_for_human: its review has not passed")
    return entry


def approve(
    board: Board, project_id: str, *, expect: str | None = None, head: str | None = None
) -> Committed:
    """review → done, in one commit signed with the person's approver key (with
    ``expect``, only if the file is still that blob). Coder work: ``head`` is the
    branch head the caller integrated; it must be the one the review covered (the run
    block's), and the commit names it (Mc-Approved-Head)."""

    principal = approver_principal(board)

    def build(tip: str | None) -> Transition:
        entry = approvable(board, project_id, tip, expect)
        assert tip is not None and entry.project is not None
        project = entry.project
        review = project.review
        assert review is not None
        reviewed_head = project.run.head if project.run else None
        if reviewed_head is not None and head != reviewed_head:
            raise TransitionRefused(
                f"{project_id}: the review covered {reviewed_head[:12]} of its branch, "
                f"not {(head or 'nothing')[:12]}: an approval covers exactly what was reviewed"
            )
        reviewed_commit = _last_genuine_review(board, project_id, entry.path, tip)
        text = set_keys(_text_of(board, entry), {"approved": {"by": principal, "at": now()}})
        return Transition(
            project_id,
            "approve",
            f"Approve {project_id}",
            {entry.path: None, project_path(Lane.DONE, project_id): text.encode()},
            trailers=(
                ("Mc-Reviewed-Commit", reviewed_commit or ""),
                ("Mc-Review-Job", review.job),
                *((("Mc-Approved-Head", reviewed_head),) if reviewed_head else ()),
            ),
        )

    return Store(board).apply(build, person_identity(board, approve=True, name=principal))


def add_approver(board: Board, name: str, public_key: str) -> Committed:
    """Add an SSH approver: a line of .mc/allowed_signers."""
    from mc.board.signing import normalise_key, signer_line

    _check_approver_name(name)
    key = normalise_key(public_key)

    def build(tip: str | None) -> Transition:
        path = SIGNERS_PATH
        # Bytes in, bytes out: whatever else the file holds is kept exactly.
        text = (board.read_blob(f"{tip}:{path}") or b"").decode("utf-8", "surrogateescape")
        if key in text:
            raise InvalidInput(f"that key is already in {SIGNERS_PATH}")
        if text and not text.endswith("\n"):
            text += "\n"
        text += signer_line(name, key) + "\n"
        data = text.encode("utf-8", "surrogateescape")
        return Transition(None, "approvers", f"Add approver {name}", {path: data})

    return Store(board).apply(build, _approvers_identity(board))


def add_gpg_approver(board: Board, name: str, armored_key: str) -> Committed:
    """Add a GPG approver: their ASCII-armored public key as .mc/gpg/NAME.asc."""
    from mc.board.layout import GPG_DIR
    from mc.board.signing import gpg_approvers, gpg_key_files, gpg_keyring

    _check_approver_name(name)
    if "PRIVATE KEY" in armored_key:
        raise InvalidInput("that is a secret key: give the public key (gpg --armor --export KEYID)")
    if "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in armored_key:
        raise InvalidInput(
            "not an ASCII-armored OpenPGP public key (export one with gpg --armor --export KEYID)"
        )
    data = armored_key.strip().encode() + b"\n"
    keyring = gpg_keyring({name: data})
    try:
        fingerprints = list(keyring.principals)
    finally:
        keyring.close()
    if len(fingerprints) != 1:
        raise InvalidInput(
            f"the key file holds {len(fingerprints) or 'no'} OpenPGP keys gpg can import: "
            "give exactly one approver's public key"
        )
    fingerprint = fingerprints[0]
    path = f"{GPG_DIR}/{name}.asc"

    def build(tip: str | None) -> Transition:
        if tip is not None:
            if f"{name}.asc" in gpg_key_files(board.cat, tip):
                raise InvalidInput(f"{path} already exists: {name} is a GPG approver")
            existing = gpg_approvers(board.cat, tip).get(fingerprint)
            if existing is not None:
                raise InvalidInput(f"that key ({fingerprint}) is already approver {existing}")
        return Transition(
            None, "approvers", f"Add approver {name} (GPG {fingerprint})", {path: data}
        )

    return Store(board).apply(build, _approvers_identity(board))


def _check_approver_name(name: str) -> None:
    from mc.board.signing import valid_principal

    if not valid_principal(name):
        raise InvalidInput(f"NAME {name!r}: use letters, digits and . _ @ + - (not mc-service)")


def _last_genuine_review(board: Board, project_id: str, path: str, tip: str) -> str | None:
    """The review an approval names: the newest commit that is a genuine passing review
    of the project (a commit merely claiming to be one is passed over). The store's
    judging — the auditor, as for any commit — then refuses the approval if the project
    or its artifacts changed since."""
    from mc.board.audit import Auditor

    auditor = Auditor(board.repo, board.cat)
    for sha in board.repo.touching(tip, [path], grep=r"^Mc-Action: review$"):
        if auditor.approval_evidence(project_id, sha, tip)[0] is not None:
            return sha
    return None


def _approvers_identity(board: Board) -> Identity:
    """Once the board has an approver (SSH or GPG), changing approvers is signed by one
    (rules.check_signers_change); the first may be added by anyone who can commit."""
    from mc.board.audit import Auditor

    tip = board.tip
    if tip is not None and Auditor(board.repo, board.cat).approvers_at(tip):
        principal = approver_principal(board)
        return person_identity(board, approve=True, name=principal)
    return person_identity(board)


# ---------------------------------------------------------------------- the pipeline


def _service_update(
    board: Board,
    role: Role,
    project_id: str,
    action: str,
    subject: str,
    updates: Mapping[str, Any],
    to_lane: Lane | None,
    job: str | None,
    artifacts: Mapping[str, bytes] | None = None,
    expect: Lane | None = None,
) -> Committed:
    identity: Identity = service_identity(board, role)

    def build(tip: str | None) -> Transition:
        entry = _entry_at(board, project_id, tip)
        if expect is not None and entry.lane is not expect:
            raise TransitionRefused(
                f"{project_id} is in {entry.lane.value}, not {expect.value}: {action} skipped"
            )
        text = set_keys(_text_of(board, entry), updates)
        files: dict[str, bytes | None] = {}
        lane = to_lane or entry.lane
        if lane is not entry.lane:
            files[entry.path] = None
        files[project_path(lane, project_id)] = text.encode()
        if artifacts is not None:
            prefix = artifacts_prefix(project_id)
            assert tip is not None
            for old in board.repo.ls_tree(tip, [prefix]):
                files[old.path] = None
            for rel, data in artifacts.items():
                if rel.startswith("/") or ".." in rel.split("/"):
                    raise InvalidInput(f"artifact path {rel!r} leaves artifacts/{project_id}/")
                files[prefix + rel] = data
        return Transition(project_id, action, subject, files, job=job)

    return Store(board).apply(build, identity)


def dispatch(board: Board, project_id: str, job: str, attempt: int = 1) -> Committed:
    """up-next → in-progress: the dispatcher claimed it and made a work job."""
    return _service_update(
        board,
        Role.DISPATCHER,
        project_id,
        "dispatch",
        f"Dispatch {project_id} (job {job})",
        {
            "run": {"job": job, "attempt": attempt, "started_at": now(), "outcome": "running"},
            "ready_for_human": DELETE,
            "review": DELETE,
            "needs_human": DELETE,
        },
        Lane.IN_PROGRESS,
        job,
        expect=Lane.UP_NEXT,
    )


def complete(
    board: Board,
    project_id: str,
    job: str,
    artifacts: Mapping[str, bytes],
    attempt: int = 1,
    *,
    change: Mapping[str, str] | None = None,
) -> Committed:
    """in-progress → review: the work job succeeded; its artifacts land in the same commit.
    ``change``: coder work's ``head`` (the branch's head commit, what the review covers
    and an approval integrates) and ``base`` (the branch the worktree was made from)."""
    entry = board.get(project_id)
    run = dict((entry.project.get("run") if entry.project else None) or {"job": job})
    run.update({"job": job, "attempt": attempt, "finished_at": now(), "outcome": "succeeded"})
    for key in ("error", "head", "base"):
        run.pop(key, None)
    run.update(change or {})
    return _service_update(
        board,
        Role.EXECUTOR,
        project_id,
        "complete",
        f"Complete {project_id} (job {job})",
        {"run": run},
        Lane.REVIEW,
        job,
        artifacts=artifacts,
        expect=Lane.IN_PROGRESS,
    )


def record_review(
    board: Board,
    project_id: str,
    job: str,
    verdict: str,
    notes: str,
    *,
    rework: bool,
    escalate: str | None = None,
) -> Committed:
    """The reviewer's verdict: pass → ready_for_human; fail → back to in-progress, or escalate."""
    if verdict not in ("pass", "fail"):
        raise InvalidInput(f"verdict {verdict!r}: expected pass or fail")
    review: dict[str, Any] = {"job": job, "verdict": verdict, "at": now()}
    if notes.strip():
        review["notes"] = notes
    updates: dict[str, Any] = {"review": review}
    to_lane = None
    if verdict == "pass":
        updates["ready_for_human"] = True
    elif rework:
        to_lane = Lane.IN_PROGRESS
    elif escalate:
        updates["needs_human"] = {"reason": escalate, "at": now()}
    return _service_update(
        board,
        Role.REVIEWER,
        project_id,
        "review",
        f"Review {project_id}: {verdict} (job {job})",
        updates,
        to_lane,
        job,
        expect=Lane.REVIEW,
    )


def escalate(
    board: Board,
    project_id: str,
    reason: str,
    role: Role = Role.EXECUTOR,
    *,
    job: str | None = None,
    attempt: int | None = None,
) -> Committed:
    """Flag a project for the person: retries or review rounds are spent. With ``job``,
    its ``run`` block says the job is dead, with the error."""
    updates: dict[str, Any] = {"needs_human": {"reason": reason, "at": now()}}
    if job is not None:
        entry = board.get(project_id)
        run = dict(entry.project.get("run") or {}) if entry.project is not None else {}
        run.update({"job": job, "outcome": "dead", "error": reason[:20_000], "finished_at": now()})
        if attempt is not None:
            run["attempt"] = attempt
        updates["run"] = run
    return _service_update(
        board, role, project_id, "escalate", f"Escalate {project_id}", updates, None, job
    )


def state_of(entry: Entry) -> State:
    if entry.project is None:
        raise InvalidProjectFile(entry.error or "invalid project file")
    return State(entry.lane, entry.project.data)
