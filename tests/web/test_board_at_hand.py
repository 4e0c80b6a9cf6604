"""The board at hand (issue 13): keys and the command palette, a phone's width, light and
dark, the activity in words and the WIP limits explained — in a real Chromium against the
real server, daemon, database and board."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from mc.board import actions
from mc.board.board import Board
from mc.mirror import db

from ..conftest import git, to_review
from ..webfixtures import Running, web  # noqa: F401

# ruff: noqa: F811  (the web fixture is imported by name)

EVIL = "<img src=x onerror=alert(1)>"


class Opened:
    def __init__(self, page: Page, problems: list[str]) -> None:
        self.page = page
        self.problems = problems


Opener = Callable[..., Opened]


@pytest.fixture
def opener(browser: Browser, web: Running) -> Iterator[Opener]:
    """Opens logged-in pages with the given context options (viewport, color_scheme,
    is_mobile ...); page errors, dialogs and failed requests are collected."""
    contexts: list[Any] = []

    def open_page(login: str = "you", **options: Any) -> Opened:
        options.setdefault("viewport", {"width": 1400, "height": 900})
        context = browser.new_context(**options)
        contexts.append(context)
        pg = context.new_page()
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        pg.on(
            "response",
            lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        pg.goto(web.server.login_url(login))
        pg.wait_for_url(f"{web.origin}/**")
        pg.wait_for_selector('#connection[data-state="live"]')
        return Opened(pg, problems)

    yield open_page
    for context in contexts:
        context.close()


def _new(board_path: Path, pid: str, title: str | None = None, **kw: Any) -> None:
    with Board.open(board_path) as board:
        actions.new_project(board, title or pid, "coder", project_id=pid, **kw)


def _focused_card(pg: Page) -> str | None:
    return pg.evaluate("() => document.activeElement?.dataset?.project ?? null")


def _wait_focus(pg: Page, pid: str) -> None:
    deadline = time.monotonic() + 5
    while _focused_card(pg) != pid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _focused_card(pg) == pid


# ------------------------------------------------------------------ keyboard


def _keyboard_board(board_path: Path) -> None:
    """backlog: a1, a2; up-next: b1; in-progress, review: empty; nothing done."""
    _new(board_path, "a1", "First in the backlog")
    _new(board_path, "a2", "Second in the backlog")
    _new(board_path, "b1", "Queued one")
    with Board.open(board_path) as board:
        actions.queue(board, "b1")


def test_the_keys_walk_the_board(web: Running, opener: Opener, board_path: Path) -> None:
    _keyboard_board(board_path)
    opened = opener()
    pg = opened.page
    pg.wait_for_selector('[data-lane="up-next"] [data-project="b1"]')
    pg.keyboard.press("j")  # nothing focused: the first card of the first lane
    _wait_focus(pg, "a1")
    pg.keyboard.press("ArrowDown")
    _wait_focus(pg, "a2")
    pg.keyboard.press("ArrowDown")  # the last card stays
    _wait_focus(pg, "a2")
    pg.keyboard.press("ArrowRight")  # up-next has one card
    _wait_focus(pg, "b1")
    pg.keyboard.press("l")  # nothing to the right (empty lanes are skipped): stays
    _wait_focus(pg, "b1")
    pg.keyboard.press("h")
    _wait_focus(pg, "a1")
    pg.keyboard.press("k")
    _wait_focus(pg, "a1")
    pg.keyboard.press("j")
    _wait_focus(pg, "a2")

    pg.keyboard.press("m")  # its "Move to…" list
    expect(pg.locator('[data-project="a2"] .move-select')).to_be_focused()
    pg.keyboard.press("Escape")
    pg.locator('[data-project="a2"]').focus()

    pg.keyboard.press("Enter")
    pg.wait_for_url("**/#/project/a2")
    expect(pg.locator(".detail-title")).to_have_text("Second in the backlog")
    pg.keyboard.press("Escape")
    pg.wait_for_url("**/#/board")
    pg.goto(f"{web.origin}/#/project/a1")
    expect(pg.locator(".detail-title")).to_have_text("First in the backlog")
    pg.keyboard.press("g")
    pg.keyboard.press("b")
    pg.wait_for_url("**/#/board")
    pg.keyboard.press("g")
    pg.keyboard.press("t")
    pg.wait_for_url("**/#/tasks")

    pg.keyboard.press("/")  # search is on the board: it goes there
    pg.wait_for_url("**/#/board")
    search = pg.locator('.filters input[name="q"]')
    expect(search).to_be_focused()
    pg.keyboard.type("jn?m")  # typed into the field: text, never a shortcut
    expect(search).to_have_value("jn?m")
    assert pg.locator("dialog[open]").count() == 0
    assert "#/board" in pg.url
    search.fill("")
    pg.locator('[data-project="a1"]').focus()

    pg.keyboard.press("n")
    dialog = pg.locator("#new-project-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator('input[name="title"]')).to_be_focused()
    pg.keyboard.type("k?")  # typing in the dialog moves nothing
    expect(dialog.locator('input[name="title"]')).to_have_value("k?")
    pg.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    pg.keyboard.press("?")
    keys = pg.locator("#keys-dialog")
    expect(keys).to_be_visible()
    assert "Command palette" in (keys.text_content() or "")
    assert keys.locator("kbd", has_text="/").count() == 1
    pg.keyboard.press("Escape")
    expect(keys).to_be_hidden()
    assert opened.problems == []


def test_the_palette_finds_a_project_and_opens_it(
    web: Running, opener: Opener, board_path: Path
) -> None:
    _keyboard_board(board_path)
    _new(board_path, "evil", EVIL)
    opened = opener()
    pg = opened.page
    pg.wait_for_selector('[data-project="evil"]')
    pg.locator('[data-project="a1"]').focus()
    pg.keyboard.press("Control+k")
    palette = pg.locator("#palette")
    expect(palette).to_be_visible()
    assert palette.get_attribute("aria-modal") == "true"
    field = pg.locator("#palette-input")
    expect(field).to_be_focused()
    assert field.get_attribute("aria-label")
    assert pg.locator("#palette-list").get_attribute("role") == "listbox"

    pg.keyboard.type("second back")  # words of the title, not a prefix
    first = pg.locator('#palette-list [role="option"]').first
    expect(first).to_have_attribute("data-project", "a2")
    expect(first).to_have_attribute("aria-selected", "true")

    pg.keyboard.press("Escape")  # closes; the focus is back on the card
    expect(palette).to_be_hidden()
    _wait_focus(pg, "a1")

    pg.keyboard.press("Control+k")
    pg.keyboard.type("img src")  # the hostile title is text in the list
    option = pg.locator('#palette-list [role="option"][data-project="evil"]')
    expect(option.locator(".palette-label")).to_have_text(EVIL)
    assert pg.locator("img[src=x]").count() == 0
    field.fill("")
    pg.keyboard.type("scnd")  # letters in order: fuzzy-ish
    expect(pg.locator('#palette-list [role="option"]').first).to_have_attribute(
        "data-project", "a2"
    )
    field.fill("queued")
    pg.keyboard.press("ArrowDown")  # one match: the arrow wraps round to it
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/#/project/b1")
    expect(palette).to_be_hidden()

    pg.keyboard.press("Control+k")
    pg.keyboard.type("arrived")
    expect(pg.locator(".palette-empty")).to_have_text("No match")
    _new(board_path, "late", "Arrived while the palette was open")  # a second writer: the CLI
    expect(pg.locator('#palette-list [role="option"]').first).to_have_attribute(
        "data-project", "late"
    )
    pg.keyboard.press("Escape")

    pg.keyboard.press("Meta+k")  # Cmd-K as well; actions too
    pg.keyboard.type("calendar")
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/#/calendar")
    assert opened.problems == []


# ------------------------------------------------------------------ phone


def _no_overflow(pg: Page) -> None:
    width = pg.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px viewport"


def _header_reachable(pg: Page) -> None:
    """Every visible control of the header lies inside the viewport, big enough to tap."""
    controls = pg.locator(".topbar a:visible, .topbar button:visible")
    assert controls.count() >= 7
    for i in range(controls.count()):
        box = controls.nth(i).bounding_box()
        assert box is not None
        name = controls.nth(i).text_content()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844, name
        if controls.nth(i).evaluate("e => e.tagName") == "BUTTON" or "nav" in (
            controls.nth(i).evaluate("e => e.parentElement.className") or ""
        ):
            assert box["height"] >= 40, f"{name}: {box['height']} px high"


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_a_phone_reaches_every_control_without_sideways_scrolling(
    web: Running, opener: Opener, board_path: Path
) -> None:
    _keyboard_board(board_path)
    _new(board_path, "long", "A long title " * 6 + "Unbroken" * 12)
    opened = opener(**PHONE)
    pg = opened.page
    pg.wait_for_selector('[data-project="long"]')
    _no_overflow(pg)
    _header_reachable(pg)
    # the lanes scroll sideways inside the board, one lane at a time
    board = pg.locator(".board")
    assert board.evaluate("e => e.scrollWidth > e.clientWidth")
    assert board.evaluate("e => getComputedStyle(e).scrollSnapType").startswith("x")
    # the header has room to grow: two more views (main's History, one more) still fit
    pg.evaluate(
        """() => {
            const nav = document.querySelector('.nav');
            for (const name of ['History', 'Integrations']) {
                const a = document.createElement('a');
                a.href = '#/board';
                a.textContent = name;
                nav.append(a);
            }
        }"""
    )
    _no_overflow(pg)
    _header_reachable(pg)
    pg.locator("#new-project").click()  # the control the first user could not tap
    expect(pg.locator("#new-project-dialog")).to_be_visible()
    pg.keyboard.press("Escape")
    for view in ("#/project/long", "#/tasks", "#/calendar", "#/activity", "#/metrics"):
        pg.goto(f"{web.origin}/{view}")
        pg.wait_for_selector("main > *")
        time.sleep(0.3)
        _no_overflow(pg)
        _header_reachable(pg)
    pg.locator('.nav a[data-nav="board"]').click()
    pg.wait_for_url("**/#/board")
    pg.locator("#theme-toggle").tap()
    assert opened.problems == []


# ------------------------------------------------------------------ themes


def _background(pg: Page) -> str:
    return str(pg.evaluate("() => getComputedStyle(document.body).backgroundColor"))


def test_the_theme_follows_the_system_until_the_toggle_says_otherwise(
    web: Running, opener: Opener
) -> None:
    light = opener(color_scheme="light").page
    dark = opener(color_scheme="dark").page
    light_bg, dark_bg = _background(light), _background(dark)
    assert light_bg != dark_bg
    assert light.evaluate("() => document.documentElement.dataset.theme") == "light"
    assert dark.evaluate("() => document.documentElement.dataset.theme") == "dark"
    # the light text is dark on a light ground, and the other way round
    assert sum(map(int, light_bg[4:-1].split(","))) > sum(map(int, dark_bg[4:-1].split(",")))

    toggle = dark.locator("#theme-toggle")
    expect(toggle).to_have_attribute("data-theme", "system")
    toggle.click()  # system -> light, though the system says dark
    expect(toggle).to_have_attribute("data-theme", "light")
    assert _background(dark) == light_bg
    dark.reload()
    dark.wait_for_selector('#connection[data-state="live"]')
    expect(dark.locator("#theme-toggle")).to_have_attribute("data-theme", "light")
    assert _background(dark) == light_bg
    dark.locator("#theme-toggle").click()  # -> dark
    assert _background(dark) == dark_bg
    dark.locator("#theme-toggle").click()  # -> system again: dark, from the media query
    expect(dark.locator("#theme-toggle")).to_have_attribute("data-theme", "system")
    assert _background(dark) == dark_bg
    # a stored value that is not a theme counts as "system"
    light.evaluate("() => localStorage.setItem('mc-theme', '</style><b>x')")
    light.reload()
    light.wait_for_selector('#connection[data-state="live"]')
    expect(light.locator("#theme-toggle")).to_have_attribute("data-theme", "system")
    assert _background(light) == light_bg


TEXT_COLOURS = ("--text", "--text-muted", "--accent", "--red-text", "--green-text", "--ready-text")
TEXT_COLOURS += ("--label-text", "--orange-text")
GROUNDS = ("--bg", "--bg-raised", "--bg-card")


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of a #rrggbb colour."""
    value = hex_colour.strip().lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_each_theme_keeps_text_readable(web: Running, opener: Opener, scheme: str) -> None:
    pg = opener(color_scheme=scheme).page
    assert pg.evaluate("() => document.documentElement.dataset.theme") == scheme
    names = TEXT_COLOURS + GROUNDS
    values = pg.evaluate(
        "names => names.map(n => getComputedStyle(document.documentElement).getPropertyValue(n))",
        list(names),
    )
    colour = dict(zip(names, values, strict=True))
    low = [
        f"{fg} on {bg}: {_contrast(colour[fg], colour[bg]):.2f}"
        for fg in TEXT_COLOURS
        for bg in GROUNDS
        if _contrast(colour[fg], colour[bg]) < 4.5  # WCAG AA for body text
    ]
    assert low == []


# ------------------------------------------------------------------ WIP limits


def _set_limits(board_path: Path, lanes: str) -> None:
    path = board_path / "mc.yaml"
    text = path.read_text().replace(
        "lanes:\n  in-progress: {wip_limit: 3}\n  review: {wip_limit: 10}", lanes
    )
    assert text != path.read_text()
    path.write_text(text)
    git(board_path, "commit", "-q", "-S", "-am", "tighter limits")


def test_a_lane_over_its_limit_says_what_it_means(
    web: Running, opener: Opener, board_path: Path, database_url: str
) -> None:
    _set_limits(board_path, "lanes:\n  backlog: {wip_limit: 1}\n  review: {wip_limit: 1}")
    for pid in ("w1", "w2", "w3"):
        _new(board_path, pid)
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "r1", conns=(conn,))
        to_review(board, "r2", jobs=(3, 4), conns=(conn,))
    web.wait_synced()
    pg = opener().page
    note = pg.locator('[data-lane="backlog"] .lane-wip')
    expect(note).to_have_text("2 over the limit of 1: park or cancel some before adding more")
    expect(pg.locator('[data-lane="backlog"] .lane-count')).to_have_text("3 / 1")
    expect(pg.locator('[data-lane="review"] .lane-wip')).to_have_text(
        "1 over the review limit of 1: waiting for you"
    )
    assert pg.locator('[data-lane="up-next"] .lane-wip:visible').count() == 0
    with Board.open(board_path) as board:  # a second writer changes the count under the page
        actions.delete(board, "w3")
    expect(note).to_have_text("1 over the limit of 1: park or cancel some before adding more")
    with Board.open(board_path) as board:
        actions.delete(board, "w2")
    expect(note).to_be_hidden()  # at the limit is not over it

    # every lane's sentence, from the one function that makes them
    said = pg.evaluate(
        """async () => {
            const { wipSentence } = await import('/static/badges.js');
            return [
                wipSentence('in-progress', 5, 3), wipSentence('up-next', 4, 2),
                wipSentence('done', 2, 1), wipSentence('review', 10, 10),
                wipSentence('review', 3, null), wipSentence('odd-lane', 2, 1),
            ];
        }"""
    )
    assert said == [
        "2 over the limit of 3: no new project starts until one finishes",
        "2 over the limit of 2: queued work waits until in progress has room",
        "1 over the limit of 1: finished work piles up",
        "",
        "",
        "1 over the limit of 1",
    ]


# ------------------------------------------------------------------ activity in words


def _activity_lines(pg: Page, count: int) -> list[str]:
    lines = pg.locator("li.activity-item .activity-text")
    deadline = time.monotonic() + 10
    while lines.count() < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return [t.strip() for t in lines.all_text_contents()]


def test_the_activity_reads_in_words(
    web: Running, opener: Opener, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "cli", title="Build a CLI tool", conns=(conn,))
        to_review(board, "docs", title="Write the docs", verdict="fail", jobs=(3, 4), conns=(conn,))
        actions.cancel(board, "docs")
        actions.approve(board, "cli")
        actions.new_project(board, EVIL, "coder", project_id="evil")
        actions.queue(board, "evil")
    web.wait_synced()
    opened = opener(login="Alice")  # the name the CLI's commits carry: "You" in the feed
    pg = opened.page
    pg.goto(f"{web.origin}/#/activity")
    assert _activity_lines(pg, 14) == [
        f"You queued {EVIL}",
        f"You added {EVIL} to the backlog",
        "alice@example.com approved Build a CLI tool — done",  # the approver's signing key
        "Write the docs was cancelled by you — back in the backlog",
        "Reviewer asked for changes on Write the docs: checked",
        "Agent finished Write the docs — in review",
        "Dispatcher started coder on Write the docs",
        "You queued Write the docs",
        "You added Write the docs to the backlog",
        "Reviewer passed Build a CLI tool — ready for your approval",
        "Agent finished Build a CLI tool — in review",
        "Dispatcher started coder on Build a CLI tool",
        "You queued Build a CLI tool",
        "You added Build a CLI tool to the backlog",
    ]
    assert pg.locator("img[src=x]").count() == 0
    with Board.open(board_path) as board:  # live, from the stream: in words too
        actions.queue(board, "docs")
    expect(pg.locator("li.activity-item .activity-text").first).to_have_text(
        "You queued Write the docs"
    )
    # one line each, the time in a column of its own: the texts start at one x
    starts = {round(b["x"]) for b in _boxes(pg.locator("li.activity-item .activity-text"))}
    assert len(starts) == 1

    # the project page tells the same story; another viewer reads the name
    other = opener().page
    other.goto(f"{web.origin}/#/project/docs")
    lines = _activity_lines(other, 7)
    assert lines[:2] == [
        "Alice queued Write the docs",
        "Write the docs was cancelled by Alice — back in the backlog",
    ]
    assert "Reviewer asked for changes on Write the docs: checked" in lines

    # the same words for the API (and the MCP tools: one builder); a comment names the
    # project by its title too, and its first line only
    with web.client(web.token("agent", "helper")) as client:
        said = client.post("/api/projects/cli/comments", json={"text": "Shipped.\nDetails."})
        assert said.status_code == 201, said.text
    with web.client(web.token("viewer")) as client:
        items = client.get("/api/activity").json()["items"]
    assert [i["text"] for i in items[:3]] == [
        "helper commented on Build a CLI tool: Shipped.",
        "Alice queued Write the docs",
        f"Alice queued {EVIL}",
    ]
    expect(pg.locator("li.activity-item").first.locator(".activity-more")).to_have_text(
        "Shipped.\nDetails."
    )
    assert items[2]["summary"] == "backlog → up-next" and items[2]["title"] == EVIL  # the facts
    assert opened.problems == []


def _boxes(locator: Any) -> list[dict[str, float]]:
    return [b for b in (locator.nth(i).bounding_box() for i in range(locator.count())) if b]
