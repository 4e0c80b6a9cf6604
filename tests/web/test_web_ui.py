"""The web board in a real Chromium (Debian's, driven by Playwright) against the real
server, daemon, database and board."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from mc.board import actions
from mc.board.board import Board
from mc.mirror import db

from ..conftest import git, to_review, wait_for_file
from ..webfixtures import Running, web  # noqa: F401
from .test_web_api import _write

# ruff: noqa: F811  (the web fixture is imported by name)


class Opened:
    def __init__(self, page: Page, problems: list[str]) -> None:
        self.page = page
        self.problems = problems


@pytest.fixture
def page(browser: Browser, web: Running) -> Iterator[Opened]:
    """A logged-in page on the board; console errors and dialogs are collected."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.request.method} {r.url}")
            if r.status >= 400 and r.status != 409  # 409: a refused move, shown to the person
            else None
        ),
    )
    pg.goto(web.server.login_url())
    pg.wait_for_url(f"{web.origin}/**")
    pg.wait_for_selector('#connection[data-state="live"]')
    yield Opened(pg, problems)
    context.close()


def _new(board_path: Path, pid: str, title: str | None = None, **kw: Any) -> None:
    with Board.open(board_path) as board:
        actions.new_project(board, title or pid, "coder", project_id=pid, **kw)


def _card(pid: str, lane: str | None = None) -> str:
    return f'[data-lane="{lane}"] [data-project="{pid}"]' if lane else f'[data-project="{pid}"]'


def _last_action(board_path: Path) -> str:
    body = git(board_path, "log", "-1", "--format=%B").stdout
    return next(
        line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("Mc-Action")
    )


def test_the_board_renders_every_lane_and_card(
    web: Running, page: Opened, board_path: Path
) -> None:
    _new(board_path, "alpha", "Build a CLI", fields={"due": "2020-01-01", "priority": 1})
    pg = page.page
    pg.wait_for_selector(_card("alpha", "backlog"))
    lanes = pg.locator("section.lane").evaluate_all("els => els.map(e => e.dataset.lane)")
    assert lanes == ["backlog", "up-next", "in-progress", "review", "done"]
    assert pg.text_content(f"{_card('alpha')} .card-title") == "Build a CLI"
    assert pg.locator(f"{_card('alpha')} .due.overdue").count() == 1
    assert page.problems == []


def test_drag_and_drop_makes_the_commit(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha")
    pg = page.page
    pg.wait_for_selector(_card("alpha", "backlog"))
    pg.drag_and_drop(_card("alpha"), '[data-lane="up-next"]')
    pg.wait_for_selector(f"{_card('alpha', 'up-next')}:not(.pending)")
    wait_for_file(board_path / "up-next" / "alpha.yaml")
    assert _last_action(board_path) == "queue"
    assert not (board_path / "backlog" / "alpha.yaml").exists()
    assert page.problems == []


def test_an_illegal_drop_is_not_offered_and_refused_when_forced(
    web: Running, page: Opened, board_path: Path
) -> None:
    """Only the moves the rules allow are drop targets (tests/web/test_board_scale.py checks
    every lane); a move the page would not offer, sent anyway, is refused with the reason."""
    _new(board_path, "alpha")
    pg = page.page
    pg.wait_for_selector(_card("alpha", "backlog"))
    before = git(board_path, "rev-parse", "HEAD").stdout
    pg.drag_and_drop(_card("alpha"), '[data-lane="done"]')
    time.sleep(0.3)
    assert pg.locator(_card("alpha", "backlog")).count() == 1
    assert pg.locator(_card("alpha", "done")).count() == 0
    client, csrf = web.session()
    try:
        r = _write(client, csrf, "POST", "/api/projects/alpha/move", {"lane": "done"})
    finally:
        client.close()
    assert r.status_code == 409 and "mc approve alpha" in r.text, r.text
    assert git(board_path, "rev-parse", "HEAD").stdout == before


def test_a_commit_on_the_command_line_shows_up_without_reload(
    web: Running, page: Opened, board_path: Path
) -> None:
    _new(board_path, "alpha")
    pg = page.page
    pg.wait_for_selector(_card("alpha", "backlog"))
    pg.evaluate("window.__marker = 1")
    git(board_path, "mv", "backlog/alpha.yaml", "up-next/alpha.yaml")
    git(board_path, "commit", "-q", "-m", "queue alpha by hand")
    pg.wait_for_selector(_card("alpha", "up-next"), timeout=5000)
    assert pg.evaluate("window.__marker") == 1  # the same page: no reload


def test_a_dropped_stream_falls_back_to_polling_and_recovers(
    web: Running, page: Opened, board_path: Path
) -> None:
    _new(board_path, "alpha")
    pg = page.page
    pg.wait_for_selector(_card("alpha", "backlog"))
    pg.route("**/api/events", lambda route: route.abort())  # the stream cannot come back...
    web.server.web.hub.disconnect_all()  # ...after the server drops it
    pg.wait_for_selector('#connection[data-state="polling"]', timeout=10000)
    git(board_path, "mv", "backlog/alpha.yaml", "up-next/alpha.yaml")
    git(board_path, "commit", "-q", "-m", "queue alpha by hand")
    pg.wait_for_selector(_card("alpha", "up-next"), timeout=10000)  # polling keeps it current
    pg.unroute("**/api/events")
    pg.wait_for_selector('#connection[data-state="live"]', timeout=15000)
    _new(board_path, "beta")
    pg.wait_for_selector(_card("beta", "backlog"), timeout=5000)


def test_the_detail_form_edits_the_project(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha", "Old title")
    pg = page.page
    pg.goto(f"{web.origin}/#/project/alpha")
    pg.wait_for_selector("#project-form input[name=title]")
    pg.fill("#project-form input[name=title]", "New title")
    pg.fill("#project-form textarea[name=description]", "Line one\nLine two")
    pg.click("#project-form [data-action=save]")
    pg.wait_for_selector('#project-form .form-status:has-text("Saved")')
    text = (board_path / "backlog" / "alpha.yaml").read_text()
    assert "title: New title" in text and "Line one\n  Line two" in text
    assert _last_action(board_path) == "edit"
    # A change from elsewhere reloads the (untouched) form; what it said stays said.
    with Board.open(board_path) as board:
        actions.edit(board, "alpha", {"owner": "carol"})
    expect(pg.locator("#project-form input[name=owner]")).to_have_value("carol")
    assert pg.locator("#project-form .form-status").text_content() == "Saved."
    assert page.problems == []


def test_approve_works_for_a_human_session(
    web: Running, page: Opened, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    pg = page.page
    pg.goto(f"{web.origin}/#/project/ready")
    pg.click("[data-action=approve]")
    # Done is final: the first click only asks, naming the project and the signer.
    confirm = pg.locator(".approve-confirm")
    confirm.wait_for()
    assert "ready" in (confirm.text_content() or "")
    assert confirm.locator("[data-role=signer]").text_content() == "alice@example.com"
    pg.click("[data-action=approve-cancel]")
    assert pg.locator(".approve-confirm").count() == 0
    time.sleep(0.3)
    assert (board_path / "review" / "ready.yaml").exists()  # nothing was signed
    pg.click("[data-action=approve]")
    pg.click("[data-action=approve-confirm]")
    wait_for_file(board_path / "done" / "ready.yaml")
    assert (board_path / "done" / "ready.yaml").exists()
    assert git(board_path, "log", "-1", "--format=%G?").stdout.strip() == "G"
    assert _last_action(board_path) == "approve"


def test_user_text_is_shown_as_text(web: Running, page: Opened, board_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>"
    _new(board_path, "evil", evil, fields={"description": "<script>alert(2)</script>"})
    pg = page.page
    pg.wait_for_selector(_card("evil", "backlog"))
    assert pg.text_content(f"{_card('evil')} .card-title") == evil
    assert pg.locator("img[src=x]").count() == 0
    pg.goto(f"{web.origin}/#/project/evil")
    pg.wait_for_selector(".detail-title")
    assert pg.text_content(".detail-title") == evil
    assert pg.locator("img[src=x]").count() == 0 and pg.locator("main script").count() == 0
    time.sleep(0.3)
    assert page.problems == []


def test_comments_and_the_activity_panel(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha")
    pg = page.page
    pg.goto(f"{web.origin}/#/project/alpha")
    pg.wait_for_selector("li.activity-item")  # the creation, from the mirror
    pg.fill("form.comment-form textarea[name=comment]", "Ask for <b>tests</b>.")
    pg.click("form.comment-form [data-action=comment]")
    item = pg.wait_for_selector('li.activity-item:has-text("Ask for <b>tests</b>.")')
    assert item is not None
    assert pg.locator("li.activity-item b").count() == 0
    assert page.problems == []


def test_log_out(web: Running, page: Opened) -> None:
    pg = page.page
    pg.click("#logout")
    pg.wait_for_selector("#login-panel")
    pg.reload()
    pg.wait_for_selector("#login-panel")  # the cookie no longer works


def test_tasks_can_be_linked_edited_and_deleted(
    web: Running, page: Opened, board_path: Path
) -> None:
    _new(board_path, "alpha", "Alpha project")
    web.wait_synced()
    c = web.client(web.token("human"))
    made = c.post("/api/tasks", json={"title": "Write the docs"})
    assert made.status_code == 201, made.text
    tid = made.json()["id"]
    assert made.json()["project_id"] is None
    row = f'li.task[data-task="{tid}"]'
    pg = page.page

    # Linked from the project page, picking it from the open unlinked tasks.
    pg.goto(f"{web.origin}/#/project/alpha")
    pg.wait_for_selector(f'form.task-link-existing select option[value="{tid}"]', state="attached")
    pg.select_option("form.task-link-existing select", str(tid))
    pg.click("form.task-link-existing [data-action=link-task]")
    pg.wait_for_selector(f".detail-side {row}")
    linked = c.get("/api/tasks", params={"project": "alpha"}).json()
    assert [t["id"] for t in linked] == [tid]

    # Edited in its row on the Tasks view, which shows the project it belongs to.
    pg.goto(f"{web.origin}/#/tasks")
    pg.wait_for_selector(f'{row} a.chip-project[href="#/project/alpha"]')
    pg.click(f"{row} [data-action=edit-task]")
    pg.fill(f"{row} form.task-edit-form input[name=title]", "Write the user guide")
    pg.select_option(f"{row} form.task-edit-form select[name=priority]", "2")
    pg.click(f"{row} [data-action=save-task]")
    pg.wait_for_selector(f'{row}:not(.is-editing) .task-title:has-text("Write the user guide")')
    got = c.get(f"/api/tasks/{tid}").json()
    assert (got["title"], got["priority"], got["project_id"]) == (
        "Write the user guide",
        2,
        "alpha",
    )

    # Unlinked: the row stays (now with a "Link to project…" input) and the project has none.
    pg.click(f"{row} [data-action=unlink-task]")
    pg.wait_for_selector(f"{row} input.task-link-input")
    assert pg.locator(f"{row} a.chip-project").count() == 0
    assert c.get("/api/tasks", params={"project": "alpha"}).json() == []

    # Deleted after the two-step confirmation.
    pg.click(f"{row} [data-action=delete-task]")
    pg.wait_for_selector(f'{row} [data-action=delete-task]:has-text("Really delete?")')
    assert c.get(f"/api/tasks/{tid}").status_code == 200  # the first click deletes nothing
    pg.click(f"{row} [data-action=delete-task]")
    pg.wait_for_selector(row, state="detached")
    remaining = c.get("/api/tasks", params={"all": "1"}).json()
    assert tid not in [t["id"] for t in remaining]
    assert pg.locator('li.task [role="alert"]:not([hidden])').count() == 0
    assert page.problems == []


def _running_job_page(
    web: Running, page: Opened, board_path: Path, database_url: str
) -> tuple[Page, Any]:
    """Project alpha with a running job that logged a first line, open in the page."""
    from mc.pipeline import jobs

    _new(board_path, "alpha", lane=actions.Lane.UP_NEXT)
    web.wait_synced()
    with db.connect(database_url) as conn:
        jobs.enqueue(conn, "alpha", "work", "coder")
        job = jobs.claim(conn, "w1")
        assert job is not None
        jobs.log(conn, job, "stdout", "first line")
    pg = page.page
    pg.goto(f"{web.origin}/#/project/alpha")
    pg.wait_for_selector('pre.log .log-line:has-text("first line")')
    return pg, job


def test_a_running_jobs_log_grows_in_the_detail_page(
    web: Running, page: Opened, board_path: Path, database_url: str
) -> None:
    from mc.pipeline import jobs

    pg, job = _running_job_page(web, page, board_path, database_url)
    with db.connect(database_url) as conn:
        jobs.log(conn, job, "stderr", "second line")
    pg.wait_for_selector('pre.log .log-stderr:has-text("second line")')
    assert pg.locator("pre.log .log-line").count() == 2
    assert page.problems == []


def test_the_page_warns_for_good_when_agents_run_unconfined(
    web: Running, page: Opened, board_path: Path
) -> None:
    pg = page.page
    assert pg.locator("#sandbox-warning").is_hidden()  # confined: nothing to say
    text = (board_path / "mc.yaml").read_text()
    (board_path / "mc.yaml").write_text(text + "sandbox: false\n")
    git(board_path, "commit", "-q", "-S", "-am", "agents unconfined")
    web.wait_synced()
    pg.reload()
    warning = pg.locator("#sandbox-warning")
    warning.wait_for()
    assert warning.get_attribute("data-state") == "off"
    assert "Agents are not confined." in (warning.text_content() or "")
    pg.goto(f"{web.origin}/#/tasks")  # on every view
    assert warning.is_visible()
