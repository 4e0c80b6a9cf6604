"""The web board as a person uses it, beyond test_web_ui.py: filters kept in the URL, the
card's move select, the project page's actions and form messages, rework and the approve
confirm step, artifacts, task rows, the New project dialog and the other pages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mc.board import actions
from mc.board.board import Board
from mc.mirror import db

from ..conftest import git, to_review, wait_for_file
from ..webfixtures import Running, web  # noqa: F401
from .test_web_ui import Opened, _card, _new, _running_job_page, page  # noqa: F401

# ruff: noqa: F811


def test_board_filters_and_move_select(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha", "Alpha thing", fields={"labels": ["cli"], "owner": "bob"})
    _new(board_path, "beta", "Beta thing")
    pg = page.page
    pg.wait_for_selector(_card("beta", "backlog"))
    pg.fill(".filters input[name=q]", "alpha")
    pg.wait_for_selector(_card("beta"), state="detached")
    assert "q=alpha" in pg.evaluate("location.hash")
    assert pg.text_content('[data-lane="backlog"] .lane-shown') == "1 shown"
    assert pg.locator(".filters button:has-text('Clear filters')").is_visible()
    pg.fill(".filters input[name=q]", "zzz")
    pg.wait_for_selector('[data-lane="backlog"] .lane-empty:has-text("No matches")')
    pg.click(".filters button:has-text('Clear filters')")
    pg.wait_for_selector(_card("beta", "backlog"))
    assert "q=" not in pg.evaluate("location.hash")
    opts = pg.locator(".filters select[name=archetype] option").evaluate_all(
        "e => e.map(o => o.value)"
    )
    assert opts[0] == "" and "coder" in opts
    labels = pg.locator("#filter-labels option").evaluate_all("e => e.map(o => o.value)")
    assert "cli" in labels
    pg.goto(f"{web.origin}/#/board?owner=bob")
    pg.wait_for_selector(_card("alpha", "backlog"))
    assert pg.locator(_card("beta")).count() == 0
    assert pg.input_value(".filters input[name=owner]") == "bob"
    pg.goto(f"{web.origin}/#/board")
    pg.wait_for_selector(_card("beta", "backlog"))
    pg.select_option(f"{_card('beta')} select.move-select", "up-next")
    pg.wait_for_selector(f"{_card('beta', 'up-next')}:not(.pending)")
    wait_for_file(board_path / "up-next" / "beta.yaml")
    pg.click(f"{_card('alpha')} .card-title")
    pg.wait_for_selector(".detail-title")
    assert pg.evaluate("location.hash") == "#/project/alpha"
    assert page.problems == []


def test_detail_actions_and_form_messages(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha", "Alpha")
    pg = page.page
    pg.goto(f"{web.origin}/#/project/alpha")
    pg.wait_for_selector("[data-action=queue]")
    assert pg.title() == "Alpha · Mission Control"
    pg.click("[data-action=queue]")
    pg.wait_for_selector('.toast:has-text("Queued: Alpha")')
    pg.wait_for_selector('.detail-header .lane-chip[data-lane="up-next"]')
    wait_for_file(board_path / "up-next" / "alpha.yaml")
    pg.click("[data-action=cancel]")
    pg.wait_for_selector('.detail-header .lane-chip[data-lane="backlog"]')
    # only the moves the rules allow are offered (a refused one, forced: test_web_ui)
    offered = pg.locator("select.move-select[data-action=move] option").evaluate_all(
        "els => els.map(e => e.value).filter(Boolean)"
    )
    assert offered == ["up-next"]
    pg.select_option("select.move-select[data-action=move]", "up-next")
    pg.wait_for_selector('.detail-header .lane-chip[data-lane="up-next"]')
    assert pg.locator(".action-error").is_hidden()
    # the form
    pg.click("#project-form [data-action=save]")
    pg.wait_for_selector('#project-form .form-status:has-text("No changes.")')
    pg.fill("#project-form input[name=owner]", "dave")
    pg.fill("#project-form input[name=labels]", "a, b")
    pg.click("#project-form [data-action=save]")
    pg.wait_for_selector('#project-form .form-status:has-text("Saved.")')
    assert "owner: dave" in (board_path / "up-next" / "alpha.yaml").read_text()
    # stale notice while editing
    pg.fill("#project-form input[name=title]", "Typing")
    with Board.open(board_path) as board:
        actions.edit(board, "alpha", {"owner": "carol"}) if hasattr(actions, "edit") else None
    if not hasattr(actions, "edit"):
        text = (board_path / "up-next" / "alpha.yaml").read_text()
        (board_path / "up-next" / "alpha.yaml").write_text(text + "owner: carol\n")
        git(board_path, "commit", "-q", "-am", "owner by hand")
    pg.wait_for_selector(".banner-warn[role=status]:not([hidden])", timeout=10000)
    assert pg.input_value("#project-form input[name=title]") == "Typing"
    pg.click("[data-action=reload-form]")
    pg.wait_for_selector(".banner-warn[role=status]", state="hidden")
    assert pg.input_value("#project-form input[name=title]") == "Alpha"
    assert pg.input_value("#project-form input[name=owner]") == "carol"
    # comments, tasks panel, new task from the project page
    pg.fill("form.task-form input[name=title]", "Side task")
    pg.click("form.task-form button[type=submit]")
    pg.wait_for_selector('.detail-side li.task:has-text("Side task")')
    assert pg.locator("form.task-link-existing select").is_disabled()
    assert page.problems == []


def test_review_rework_artifacts_and_approve_cancel(
    web: Running, page: Opened, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    pg = page.page
    pg.goto(f"{web.origin}/#/project/ready")
    pg.wait_for_selector('.review .badge-review-pass:has-text("✓ Passed")')
    assert pg.text_content(".review .review-notes") == "checked"
    pg.wait_for_selector('.artifact-path:has-text("report.md")')
    assert pg.locator(".job-list").count() == 1
    pg.click("[data-action=approve]")
    confirm = pg.locator(".approve-confirm")
    confirm.wait_for()
    assert "It covers exactly the work its review" in (confirm.text_content() or "")
    # The confirm button takes the focus (Enter confirms); focus lands a moment later.
    deadline = time.monotonic() + 5
    while (
        pg.evaluate("document.activeElement && document.activeElement.dataset.action")
        != "approve-confirm"
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert pg.evaluate("document.activeElement.dataset.action") == "approve-confirm"
    pg.click("[data-action=approve-cancel]")
    pg.wait_for_selector("[data-action=approve]")
    pg.click("form.rework-form [data-action=rework]")  # empty: required, nothing sent
    time.sleep(0.3)
    assert (board_path / "review" / "ready.yaml").exists()
    pg.fill("form.rework-form textarea[name=notes]", "More tests")
    pg.click("form.rework-form [data-action=rework]")
    pg.wait_for_selector('.toast:has-text("Sent back for rework: ready")')
    pg.wait_for_selector('.detail-header .lane-chip:not([data-lane="review"])')
    assert page.problems == []


def test_other_views_render(web: Running, page: Opened, board_path: Path) -> None:
    pg = page.page
    pg.click("#new-project")
    pg.fill("#new-project-dialog input[name=title]", "From the dialog")
    pg.select_option("#new-project-dialog select[name=priority]", "2")
    pg.click("#new-project-dialog [data-action=create]")
    pg.wait_for_selector('.toast:has-text("Created")')
    pg.wait_for_selector('[data-lane="backlog"] .card-title:has-text("From the dialog")')
    pg.wait_for_selector('[data-lane="backlog"] .priority-2')
    pg.goto(f"{web.origin}/#/tasks")
    pg.fill("form.task-form input[name=title]", "A task")
    pg.select_option("form.task-form select[name=priority]", "1")
    pg.click("form.task-form button[type=submit]")
    pg.wait_for_selector('li.task:has-text("A task") .priority-1')
    opts = pg.locator("form.task-form select[name=priority] option").evaluate_all(
        "e => e.map(o => o.textContent)"
    )
    assert opts == ["No priority", "P1 — highest", "P2", "P3", "P4 — lowest"]
    pg.check(".toolbar input[name=all]")
    assert "all=1" in pg.evaluate("location.hash")
    pg.goto(f"{web.origin}/#/calendar")
    pg.wait_for_selector(".cal-grid .cal-day")
    pg.goto(f"{web.origin}/#/activity")
    pg.wait_for_selector("li.activity-item")
    pg.goto(f"{web.origin}/#/metrics")
    pg.wait_for_selector(".metrics .panel-title:has-text('Cumulative flow')")
    pg.goto(f"{web.origin}/#/project/nope")
    pg.wait_for_selector('h1:has-text("No such project")')
    page.problems[:] = [p for p in page.problems if "/api/projects/nope" not in p]
    assert page.problems == []


def test_job_log_raw_toggle_and_live_step(
    web: Running, page: Opened, board_path: Path, database_url: str
) -> None:
    pg, _ = _running_job_page(web, page, board_path, database_url)
    assert pg.locator(".job-list li.job.is-selected").count() == 1
    pg.check("[data-action=log-raw]")
    pg.wait_for_selector('pre.log .log-line:has-text("first line")')
    assert pg.locator("pre.log .log-line").count() == 1
    assert "Log of job #" in (pg.text_content(".log-title") or "")
    assert page.problems == []


def test_task_row_done_link_and_escape(web: Running, page: Opened, board_path: Path) -> None:
    _new(board_path, "alpha", "Alpha project")
    web.wait_synced()
    c = web.client(web.token("human"))
    tid = c.post("/api/tasks", json={"title": "Row task"}).json()["id"]
    row = f'li.task[data-task="{tid}"]'
    pg = page.page
    pg.goto(f"{web.origin}/#/tasks")
    pg.wait_for_selector(row)
    pg.click(f"{row} [data-action=edit-task]")
    pg.wait_for_selector(f"{row}.is-editing")
    pg.press(f"{row} form.task-edit-form input[name=title]", "Escape")
    pg.wait_for_selector(f"{row}:not(.is-editing)")
    assert pg.evaluate("document.activeElement.dataset.action") == "edit-task"
    # a change elsewhere: the row reloads the task after the 412
    etag = c.get(f"/api/tasks/{tid}").json()["etag"]
    r = c.patch(f"/api/tasks/{tid}", json={"notes": "elsewhere"}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    pg.fill(f"{row} input.task-link-input", "alpha")
    pg.click(f"{row} form.task-link-form [data-action=link-task]")
    pg.wait_for_selector(f'{row} [role=alert]:has-text("Someone else changed this task")')
    page.problems[:] = [p for p in page.problems if not p.startswith("412 ")]
    pg.fill(f"{row} input.task-link-input", "alpha")
    pg.click(f"{row} form.task-link-form [data-action=link-task]")
    pg.wait_for_selector(f'{row} a.chip-project[href="#/project/alpha"]')
    pg.check(f"{row} input.task-done")
    pg.wait_for_selector(row, state="detached", timeout=5000)  # done: not in the open list
    assert c.get(f"/api/tasks/{tid}").json()["done_at"]
    assert page.problems == []


def test_the_tab_counts_what_waits_and_the_browser_is_told_when_one_is_ready(
    browser: Any, web: Running, board_path: Path
) -> None:
    """The page asks once for permission, then raises a browser notification when a
    project becomes ready for approval, and the tab's title counts what waits."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["notifications"], origin=web.origin)
    # Record what the page raises (headless Chromium shows no notification).
    context.add_init_script(
        "window.__notes = [];"
        "window.Notification = class { constructor(t, o) { window.__notes.push([t, o && o.body]); }"
        "  static get permission() { return 'granted'; }"
        "  static requestPermission() { return Promise.resolve('granted'); } };"
    )
    pg = context.new_page()
    try:
        _new(board_path, "other", "Something else")
        pg.goto(web.server.login_url())
        pg.wait_for_selector('#connection[data-state="live"]')
        pg.wait_for_selector(_card("other", "backlog"))
        assert pg.title() == "Mission Control"
        with db.connect(web.url) as conn, Board.open(board_path) as board:
            to_review(board, "alpha", title="Build a CLI tool", conns=(conn,))
        _wait_title(pg, "(1) Mission Control")
        notes = pg.evaluate("window.__notes")
        assert notes == [
            ["Ready for your approval: Build a CLI tool", "The reviewer passed alpha."]
        ]
        pg.goto(f"{web.origin}/#/project/alpha")
        _wait_title(pg, "(1) Build a CLI tool · Mission Control")
    finally:
        context.close()


def _wait_title(pg: Any, title: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while pg.title() != title and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pg.title() == title
