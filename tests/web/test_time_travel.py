"""Time travel: the board branch's history, the board as of a commit or a date (read-only,
from git), and a project's story — over the real API and in a real Chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mc.board import actions
from mc.board.board import Board

from ..conftest import git
from ..webfixtures import Running, web  # noqa: F401
from .test_web_ui import Opened, page  # noqa: F401

# ruff: noqa: F811  (the web and page fixtures are imported by name)


def _at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """The next commits are dated ``when`` (author and committer)."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)


def _head(board_path: Path) -> str:
    return git(board_path, "rev-parse", "HEAD").stdout.strip()


def _lanes(answer: dict[str, Any]) -> dict[str, list[str]]:
    return {lane["name"]: [c["id"] for c in lane["projects"]] for lane in answer["lanes"]}


class Story:
    """A board with a dated past: alpha and beta made on Dec 10, alpha queued on Dec 12,
    gamma made on Dec 14 (the board's own first commit is today, Dec 6 or later)."""

    def __init__(self, board_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.first = _head(board_path)
        with Board.open(board_path) as board:
            _at(monkeypatch, "2026-12-10T12:00:00Z")
            actions.new_project(board, "Alpha work", "coder", project_id="alpha")
            self.alpha = _head(board_path)
            actions.new_project(board, "Beta work", "coder", project_id="beta")
            self.made = _head(board_path)
            _at(monkeypatch, "2026-12-12T12:00:00Z")
            actions.queue(board, "alpha")
            self.queued = _head(board_path)
            _at(monkeypatch, "2026-12-14T12:00:00Z")
            actions.new_project(board, "Gamma work", "coder", project_id="gamma")
            self.last = _head(board_path)
        monkeypatch.delenv("GIT_COMMITTER_DATE")
        monkeypatch.delenv("GIT_AUTHOR_DATE")


@pytest.fixture
def story(board_path: Path, monkeypatch: pytest.MonkeyPatch) -> Story:
    return Story(board_path, monkeypatch)


# ---------------------------------------------------------------------- the API


def test_history_pages_through_the_board_branch_newest_first(story: Story, web: Running) -> None:
    with web.client(web.token("viewer")) as c:
        everything = c.get("/api/history").json()
        shas = [p["commit"] for p in everything["commits"]]
        assert shas[0] == story.last and shas[-1] == story.first and len(shas) == 5
        assert everything["next"] is None
        top = everything["commits"][0]
        assert top["subject"] and top["time"].startswith("2026-12-14") and top["author"]
        first_page = c.get("/api/history", params={"limit": 2}).json()
        assert [p["commit"] for p in first_page["commits"]] == shas[:2]
        assert first_page["next"] == shas[1]
        second = c.get("/api/history", params={"limit": 2, "before": first_page["next"]}).json()
        assert [p["commit"] for p in second["commits"]] == shas[2:4]
        rest = c.get("/api/history", params={"limit": 2, "before": second["next"]}).json()
        assert [p["commit"] for p in rest["commits"]] == shas[4:] and rest["next"] is None
        for bad in ("0", "501", "x", "-1"):
            r = c.get("/api/history", params={"limit": bad})
            assert r.status_code == 400 and r.json()["error"].startswith("limit:")
        r = c.get("/api/history", params={"before": "--output=/tmp/x"})
        assert r.status_code == 400 and r.json()["error"].startswith("before:")


def test_the_board_at_a_commit_and_at_a_date_shows_the_earlier_lanes(
    story: Story, web: Running
) -> None:
    with web.client(web.token("viewer")) as c:
        now = _lanes(c.get("/api/board").json())
        assert now["up-next"] == ["alpha"] and sorted(now["backlog"]) == ["beta", "gamma"]

        made = c.get("/api/history/board", params={"at": story.made}).json()
        assert _lanes(made)["backlog"] == ["alpha", "beta"] and _lanes(made)["up-next"] == []
        assert made["read_only"] is True and made["at"]["commit"] == story.made
        assert [lane["name"] for lane in made["lanes"]] == [
            "backlog", "up-next", "in-progress", "review", "done"
        ]  # fmt: skip
        alpha = made["lanes"][0]["projects"][0]
        assert alpha["title"] == "Alpha work" and alpha["archetype"] == "coder"
        assert alpha["job"] is None and alpha["lane"] == "backlog"

        short = c.get("/api/history/board", params={"at": story.made[:8]}).json()
        assert short["at"]["commit"] == story.made

        day = c.get("/api/history/board", params={"at": "2026-12-11"}).json()
        assert day["at"]["commit"] == story.made  # the last commit on or before that day
        assert _lanes(day)["up-next"] == []
        queued = c.get("/api/history/board", params={"at": "2026-12-12"}).json()
        assert queued["at"]["commit"] == story.queued and _lanes(queued)["up-next"] == ["alpha"]
        assert "gamma" not in _lanes(queued)["backlog"]
        noon = c.get("/api/history/board", params={"at": "2026-12-12T11:00:00Z"}).json()
        assert noon["at"]["commit"] == story.made  # an hour before alpha was queued


def test_bad_at_values_are_400_naming_at_and_git_never_sees_them(
    story: Story, web: Running, board_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "x"
    with web.client(web.token("viewer")) as c:
        for bad in (f"--output={target}", "HEAD~1;rm", "2026-13-45", "2026-02-30", "HEAD",
                    "main", "", "tomorrow", "$(touch /tmp/pwned)", "2026-12-12T25:00"):  # fmt: skip
            r = c.get("/api/history/board", params={"at": bad})
            assert r.status_code == 400, (bad, r.text)
            message = r.json()["error"]
            assert message.startswith("at:") and "\n" not in message
        assert not target.exists()
        missing = c.get("/api/history/board", params={"at": "deadbeef"})
        assert missing.status_code == 404 and missing.json()["error"].startswith("at:")


def test_a_date_before_the_first_commit_is_404_saying_so(story: Story, web: Running) -> None:
    with web.client(web.token("viewer")) as c:
        r = c.get("/api/history/board", params={"at": "2020-01-01"})
        assert r.status_code == 404
        assert "before the board's first commit" in r.json()["error"]


def test_a_commit_off_the_board_branch_is_not_shown(
    story: Story, web: Running, board_path: Path
) -> None:
    git(board_path, "checkout", "-q", "-b", "elsewhere")
    git(board_path, "commit", "-q", "--allow-empty", "--no-verify", "-m", "not the board")
    other = _head(board_path)
    git(board_path, "checkout", "-q", "main")
    with web.client(web.token("viewer")) as c:
        r = c.get("/api/history/board", params={"at": other})
        assert r.status_code == 404 and "not on the board branch" in r.json()["error"]


def test_the_past_is_read_from_git_not_the_database(
    story: Story, web: Running, board_path: Path
) -> None:
    """A second writer moves the board on while the past is asked: the past stays as it was."""
    with web.client(web.token("viewer")) as c:
        before = c.get("/api/history/board", params={"at": story.made}).json()
        with Board.open(board_path) as board:
            actions.queue(board, "beta")
        web.wait_synced()
        again = c.get("/api/history/board", params={"at": story.made}).json()
        assert again == before
        assert sorted(_lanes(c.get("/api/board").json())["up-next"]) == ["alpha", "beta"]


def test_a_killed_git_reader_is_started_again(story: Story, web: Running) -> None:
    """The server's long-running cat-file dies (OOM killer, a person's kill): the next
    question about the past starts a new one and answers the same."""
    with web.client(web.token("viewer")) as c:
        first = c.get("/api/history/board", params={"at": story.queued}).json()
        reader = web.server.web.current().cat._proc
        assert reader is not None and reader.poll() is None
        reader.kill()
        reader.wait(5)
        again = c.get("/api/history/board", params={"at": story.made})
        assert again.status_code == 200, again.text
        assert _lanes(again.json())["backlog"] == ["alpha", "beta"]
        assert c.get("/api/history/board", params={"at": story.queued}).json() == first


def test_the_project_history_is_mc_project_log(story: Story, web: Running) -> None:
    with web.client(web.token("viewer")) as c:
        entries = c.get("/api/projects/alpha/history").json()
        assert [e["commit"] for e in entries] == [story.queued, story.alpha]
        assert entries[0]["action"] == "queue" and entries[0]["at"].startswith("2026-12-12")
        assert c.get("/api/projects/nope/history").status_code == 404
        assert c.get("/api/projects/NOPE;rm/history").status_code == 404


def test_a_1000_project_board_of_the_past_answers_fast(web: Running, board_path: Path) -> None:
    """The board at a commit is read with cat-file batches and cached per commit."""
    for i in range(1000):
        (board_path / "backlog" / f"p{i:04}.yaml").write_text(f"title: P {i}\narchetype: coder\n")
    git(board_path, "add", "backlog")
    git(board_path, "commit", "-q", "-m", "a thousand projects")
    old = _head(board_path)
    git(board_path, "mv", "backlog/p0000.yaml", "up-next/p0000.yaml")
    git(board_path, "commit", "-q", "-m", "queue p0000")
    with web.client(web.token("viewer")) as c:
        started = time.perf_counter()
        first = c.get("/api/history/board", params={"at": old})
        cold = time.perf_counter() - started
        assert first.status_code == 200 and len(_lanes(first.json())["backlog"]) == 1000
        started = time.perf_counter()
        assert c.get("/api/history/board", params={"at": old}).content == first.content
        warm = time.perf_counter() - started
    assert cold < 5 and warm < 0.5, (cold, warm)


# ---------------------------------------------------------------------- the page


def _wait_card(pg: Page, pid: str, lane: str) -> None:
    pg.wait_for_selector(f'[data-lane="{lane}"] [data-project="{pid}"]', timeout=10000)


def test_the_page_shows_the_past_read_only_and_comes_back_to_now(
    story: Story, web: Running, page: Opened, board_path: Path
) -> None:
    pg = page.page
    _wait_card(pg, "alpha", "up-next")
    pg.goto(f"{web.origin}/?at={story.made}")
    banner = pg.locator(".time-travel-banner")
    expect(banner).to_contain_text("The board as of")
    expect(banner).to_contain_text("read-only")
    _wait_card(pg, "alpha", "backlog")
    assert pg.locator('[data-lane="up-next"] [data-project]').count() == 0
    assert pg.locator('[data-project="gamma"]').count() == 0
    # read-only: nothing to drag, no move controls, no new project
    assert pg.locator('[data-project][draggable="true"]').count() == 0
    assert pg.locator(".move-select").count() == 0
    expect(pg.locator("#new-project")).to_be_hidden()

    # the slider moves through time: its newest end is today's board
    slider = pg.locator('input[type="range"].history-slider')
    expect(slider).to_be_visible()
    maximum = slider.get_attribute("max")
    slider.fill(str(maximum))
    _wait_card(pg, "gamma", "backlog")
    _wait_card(pg, "alpha", "up-next")
    assert pg.locator('[data-project][draggable="true"]').count() == 0
    assert story.last in pg.url

    # a drag in the past moves nothing and commits nothing
    head = _head(board_path)
    pg.drag_and_drop('[data-project="beta"]', '[data-lane="up-next"]')
    pg.wait_for_timeout(500)
    assert pg.locator('[data-lane="backlog"] [data-project="beta"]').count() == 1
    assert _head(board_path) == head

    pg.locator(".time-travel-banner a", has_text="Back to now").click()
    expect(banner).to_have_count(0)
    _wait_card(pg, "alpha", "up-next")
    expect(pg.locator('[data-project="alpha"][draggable="true"]')).to_have_count(1)
    expect(pg.locator("#new-project")).to_be_visible()
    assert page.problems == []


def test_the_live_feed_does_not_change_the_board_of_the_past(
    story: Story, web: Running, page: Opened, board_path: Path
) -> None:
    pg = page.page
    pg.goto(f"{web.origin}/#/board?at={story.made}")
    _wait_card(pg, "beta", "backlog")
    with Board.open(board_path) as board:
        actions.queue(board, "beta")
        actions.new_project(board, "Delta work", "coder", project_id="delta")
    web.wait_synced()
    time.sleep(1.5)  # the feed has had its chance to redraw
    assert pg.locator('[data-lane="backlog"] [data-project="beta"]').count() == 1
    assert pg.locator('[data-project="delta"]').count() == 0
    expect(pg.locator(".time-travel-banner")).to_have_count(1)
    assert page.problems == []


def test_the_project_page_tells_its_story_with_links_to_the_past(
    story: Story, web: Running, page: Opened
) -> None:
    pg = page.page
    pg.goto(f"{web.origin}/#/project/alpha")
    items = pg.locator(".timeline li")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("queue")
    expect(items.nth(1)).to_contain_text("created")
    link = items.nth(1).locator("a.timeline-at")
    assert link.get_attribute("href") == f"#/board?at={story.alpha}"
    link.click()
    expect(pg.locator(".time-travel-banner")).to_contain_text("The board as of")
    _wait_card(pg, "alpha", "backlog")
    assert page.problems == []


def test_hostile_titles_in_the_timeline_and_the_banner_are_text(
    web: Running, page: Opened, board_path: Path
) -> None:
    title = '<img src=x onerror="window.__pwned=1">'
    with Board.open(board_path) as board:
        actions.new_project(board, title, "coder", project_id="hostile")
    commit = _head(board_path)
    pg = page.page
    pg.goto(f"{web.origin}/#/project/hostile")
    step = pg.locator(".timeline li")
    expect(step).to_have_count(1)
    expect(step).to_contain_text(title)
    pg.goto(f"{web.origin}/#/board?at={commit}")
    expect(pg.locator(".time-travel-banner")).to_contain_text(title)
    _wait_card(pg, "hostile", "backlog")
    assert pg.locator(".timeline img, .time-travel-banner img, .card img").count() == 0
    assert pg.evaluate("window.__pwned") is None
    assert page.problems == []


def test_a_bad_at_in_the_page_says_so_and_offers_the_way_back(web: Running, page: Opened) -> None:
    pg = page.page
    pg.goto(f"{web.origin}/#/board?at=2026-13-45")
    banner = pg.locator(".time-travel-banner")
    expect(banner).to_contain_text("at:")
    assert banner.get_attribute("role") == "alert"
    banner.locator("a", has_text="Back to now").click()
    expect(banner).to_have_count(0)
    expect(pg.locator("#new-project")).to_be_visible()


def test_the_slider_pages_through_a_long_history(
    story: Story, web: Running, page: Opened, board_path: Path
) -> None:
    for i in range(110):
        git(board_path, "commit", "-q", "--allow-empty", "--no-verify", "-m", f"note {i}")
    web.wait_synced()
    pg = page.page
    slider = pg.locator("input.history-slider")
    # the commit shown is older than the first page: the slider loads until it has it
    pg.goto(f"{web.origin}/#/board?at={story.made}")
    expect(slider).to_have_attribute("max", "114")
    expect(slider).to_have_value("2")  # the root, alpha, then beta's commit
    expect(pg.locator(".history-bar button", has_text="Earlier")).to_be_hidden()
    # the newest commit: one page, and "Earlier…" for the rest
    pg.goto(f"{web.origin}/#/board?at={_head(board_path)}")
    expect(slider).to_have_attribute("max", "99")
    expect(slider).to_have_value("99")
    pg.locator(".history-bar button", has_text="Earlier").click()
    expect(slider).to_have_attribute("max", "114")
    expect(slider).to_have_value("114")  # still the commit on screen
    slider.fill("2")
    _wait_card(pg, "beta", "backlog")
    expect(pg.locator(".time-travel-banner")).to_contain_text("New project beta")
    assert pg.locator('[data-lane="up-next"] [data-project]').count() == 0


def test_the_history_link_opens_the_newest_commit_with_the_slider_back(
    story: Story, web: Running, page: Opened
) -> None:
    pg = page.page
    _wait_card(pg, "alpha", "up-next")
    pg.click('a[data-nav="history"]')
    banner = pg.locator(".time-travel-banner")
    expect(banner).to_contain_text("New project gamma")
    slider = pg.locator("input.history-slider")
    expect(slider).to_have_attribute("max", "4")
    expect(slider).to_have_value("4")
    assert pg.locator(".move-select").count() == 0
    slider.fill("0")  # the board's first commit: nothing on it yet
    expect(banner).to_contain_text(story.first[:10])
    expect(pg.locator("[data-project]")).to_have_count(0)
    assert page.problems == []


def test_filters_in_the_past_keep_the_page_in_the_past(
    story: Story, web: Running, page: Opened
) -> None:
    pg = page.page
    pg.goto(f"{web.origin}/#/board?at={story.made}")
    _wait_card(pg, "beta", "backlog")
    pg.fill(".filters input[name=q]", "beta")
    expect(pg.locator('[data-project="alpha"]')).to_have_count(0)
    assert f"at={story.made}" in pg.url and "q=beta" in pg.url
    pg.reload()
    expect(pg.locator(".time-travel-banner")).to_contain_text("New project beta")
    _wait_card(pg, "beta", "backlog")
    expect(pg.locator('[data-project="alpha"]')).to_have_count(0)
    assert page.problems == []
