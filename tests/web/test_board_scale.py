"""The board at scale: paged lanes, server search, live patches of single cards, and only
the moves the rules allow offered — against the real server, daemon, database and board,
and in a real Chromium."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from mc.board import actions
from mc.board.board import Board
from mc.board.layout import LANE_NAMES_ORDERED, Lane
from mc.board.rules import Role, allowed_moves
from mc.mirror import db

from ..conftest import git, to_review
from ..webfixtures import Running, web  # noqa: F401
from .test_web_api import _events, _wait, _write
from .test_web_ui import Opened, _card, page  # noqa: F401

# ruff: noqa: F811  (the fixtures are imported by name)


def _many(board_path: Path, count: int, lane: str = "backlog", start: int = 0) -> None:
    """``count`` projects written straight into a lane, in one commit (as a person might)."""
    for i in range(start, start + count):
        (board_path / lane / f"p{i:04d}.yaml").write_text(
            f"title: Project {i}\narchetype: coder\npriority: {1 + i % 4}\nlabels: [bulk]\n"
        )
    git(board_path, "add", "-A")
    git(board_path, "commit", "-q", "--no-verify", "-m", f"{count} projects")


def _lanes(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {lane["name"]: lane for lane in answer["lanes"]}


def _rank_key(card: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(card["rank"])


# ---------------------------------------------------------------------- paging


def test_lanes_come_in_pages_in_a_stable_order(web: Running, board_path: Path) -> None:
    _many(board_path, 130)
    web.wait_synced()
    token = web.token("viewer")
    with web.client(token) as c:
        backlog = _lanes(c.get("/api/board").json())["backlog"]
        assert backlog["count"] == 130
        assert len(backlog["projects"]) == 100
        assert backlog["next"]
        seen = list(backlog["projects"])
        cursor = backlog["next"]
        while cursor:
            page = c.get("/api/board", params={"lane": "backlog", "before": cursor, "limit": 7})
            assert page.status_code == 200, page.text
            seen += page.json()["projects"]
            cursor = page.json()["next"]
    ids = [card["id"] for card in seen]
    assert sorted(ids) == [f"p{i:04d}" for i in range(130)]  # each exactly once
    # the board's order: priority first, then time in the lane
    assert [_rank_key(x) for x in seen] == sorted(_rank_key(x) for x in seen)
    assert [x["priority"] for x in seen] == sorted(x["priority"] for x in seen)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"lane": "nope"}, "lane"),
        ({"lane": "done", "limit": "0"}, "limit"),
        ({"lane": "done", "limit": "501"}, "limit"),
        ({"lane": "done", "limit": "-3"}, "limit"),
        ({"lane": "done", "limit": "ten"}, "limit"),
        ({"lane": "done", "before": "not-a-cursor"}, "before"),
        ({"lane": "done", "before": "WzEsMiwzXQ"}, "before"),  # [1,2,3]: another lane's shape
        ({"lane": "backlog", "before": "WyJ4IiwxLCJ5Il0"}, "before"),  # ["x",1,"y"]
        ({"lane": "backlog", "before": "WzEsTmFOLCJ5Il0"}, "before"),  # [1,NaN,"y"]
        ({"lanes": "done"}, "lanes"),
        ({"q": "x" * 501}, "q"),
    ],
)
def test_bad_paging_parameters_get_a_one_line_400_naming_them(
    web: Running, params: dict[str, str], named: str
) -> None:
    with web.client(web.token("viewer")) as c:
        r = c.get("/api/board", params=params)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error.startswith(f"{named}:") and "\n" not in error


def test_search_finds_projects_the_first_page_does_not_hold(web: Running, board_path: Path) -> None:
    _many(board_path, 150)
    (board_path / "backlog" / "zz-needle.yaml").write_text(
        "title: A needle in the haystack\narchetype: coder\nowner: Ada\nlabels: [rare]\n"
    )
    git(board_path, "add", "-A")
    git(board_path, "commit", "-q", "--no-verify", "-m", "the needle")
    web.wait_synced()
    with web.client(web.token("viewer")) as c:
        first = _lanes(c.get("/api/board").json())["backlog"]
        assert "zz-needle" not in {x["id"] for x in first["projects"]}  # no priority: last
        for params in ({"q": "NEEDLE haystack"}, {"owner": "ada"}, {"label": "RARE"}):
            found = _lanes(c.get("/api/board", params=params).json())["backlog"]
            assert [x["id"] for x in found["projects"]] == ["zz-needle"], params
            assert found["count"] == 1
        many = _lanes(c.get("/api/board", params={"label": "bulk"}).json())["backlog"]
        assert many["count"] == 150 and len(many["projects"]) == 150
        none = _lanes(c.get("/api/board", params={"q": "needle", "archetype": "writer"}).json())
        assert none["backlog"]["count"] == 0


def test_the_search_index_finds_what_a_plain_scan_finds(web: Running, board_path: Path) -> None:
    """Lanes.search looks words up in each lane's joined text; a card-by-card scan of
    the same cards must agree, in the same order, for words at any place in the text."""
    from mc.web.lanes import Filters

    _many(board_path, 150)
    web.wait_synced()
    with web.client(web.token("viewer")) as c:
        c.get("/api/board")
    lanes = web.server.web.lanes
    queries = ["project 1", "1", "bulk", "p01", "P0149 coder", "4 bulk", "nothing", "t 12"]
    found = {}
    for q in queries:
        filters = Filters({"q": q})
        with lanes.lock:
            got = {x["name"]: [c["id"] for c in x["projects"]] for x in lanes.search(filters)}
            plain = {
                name: [
                    r[-1]
                    for r in ranks
                    if filters.match(lanes.entries[r[-1]].card, lanes.entries[r[-1]].hay)
                ][:200]
                for name, ranks in lanes.order.items()
            }
        assert got == plain, q
        found[q] = len(got["backlog"])
    assert found["bulk"] == 150 and found["nothing"] == 0 and found["P0149 coder"] == 1
    assert 0 < found["1"] < 150


# ---------------------------------------------------------------------- live patches


def _board_events(got: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [json.loads(data) for _, kind, data in got if kind == "board"]


def test_a_commit_sends_the_changed_card_not_the_board(web: Running, board_path: Path) -> None:
    _many(board_path, 60)
    web.wait_synced()
    token = web.token("viewer")
    with web.client(token) as c:
        version = c.get("/api/board").json()["version"]
    got: list[tuple[str, str, str]] = []
    stop = threading.Event()
    threading.Thread(target=_events, args=(web, token, None, got, stop), daemon=True).start()
    _wait(lambda: len(web.server.web.hub.subscribers) == 1)
    with Board.open(board_path) as board:
        actions.queue(board, "p0007")
    _wait(lambda: any(e.get("cards") for e in _board_events(got)))
    stop.set()
    raw = next(d for _, k, d in got if k == "board" and '"cards"' in d)
    patch = json.loads(raw)
    assert len(raw.encode()) <= 5000
    assert patch["previous"] == version and patch["version"] != version
    assert [(x["id"], x["lane"]) for x in patch["cards"]] == [("p0007", "up-next")]
    assert patch["removed"] == []
    assert patch["counts"]["backlog"] == 59 and patch["counts"]["up-next"] == 1
    with web.client(token) as c:  # the server's answer is the patched one
        after = c.get("/api/board").json()
    assert after["version"] == patch["version"]
    assert [x["id"] for x in _lanes(after)["up-next"]["projects"]] == ["p0007"]


def test_a_deleted_project_comes_as_a_removed_id(web: Running, board_path: Path) -> None:
    _many(board_path, 3)
    web.wait_synced()
    token = web.token("viewer")
    with web.client(token) as c:
        c.get("/api/board")  # the server holds the cards from now on
    got: list[tuple[str, str, str]] = []
    stop = threading.Event()
    threading.Thread(target=_events, args=(web, token, None, got, stop), daemon=True).start()
    _wait(lambda: len(web.server.web.hub.subscribers) == 1)
    with Board.open(board_path) as board:
        actions.delete(board, "p0001")
    _wait(lambda: any(e.get("removed") for e in _board_events(got)))
    stop.set()
    patch = next(e for e in _board_events(got) if e.get("removed"))
    assert patch["removed"] == ["p0001"] and patch["cards"] == []
    with web.client(token) as c:
        ids = [x["id"] for x in _lanes(c.get("/api/board").json())["backlog"]["projects"]]
    assert "p0001" not in ids and len(ids) == 2


# ---------------------------------------------------------------------- moves


def _table(role: Role | None) -> dict[str, list[str]]:
    """rules.allowed_moves per lane, in the board's lane order (as the page lists them)."""
    return {
        name: [x for x in LANE_NAMES_ORDERED if role and Lane(x) in allowed_moves(role, Lane(name))]
        for name in LANE_NAMES_ORDERED
    }


@pytest.fixture
def every_lane(web: Running, board_path: Path, database_url: str) -> Running:
    """One project in each lane but done, the one in review ready for approval."""
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
        actions.new_project(board, "Parked", "coder", project_id="parked")
        actions.new_project(board, "Queued", "coder", project_id="queued")
        actions.queue(board, "queued")
        actions.new_project(board, "Running", "coder", project_id="running")
        actions.queue(board, "running")
        actions.dispatch(board, "running", "9")
    web.wait_synced()
    return web


def test_each_principal_is_offered_the_moves_the_rules_allow(every_lane: Running) -> None:
    web = every_lane
    session, _ = web.session()
    try:
        answer = session.get("/api/board").json()
        # alice's own key signs here: an approver
        assert answer["moves"] == _table(Role.APPROVER)
        ready = session.get("/api/projects/ready").json()
        assert ready["approvable"] is True and ready["moves"] == ["backlog", "up-next", "done"]
        parked = session.get("/api/projects/parked").json()
        assert parked["approvable"] is False and parked["moves"] == ["up-next"]
    finally:
        session.close()
    with web.client(web.token("human")) as c:  # a person's token cannot sign an approval
        assert c.get("/api/board").json()["moves"] == _table(Role.HUMAN)
        assert c.get("/api/projects/ready").json()["moves"] == ["backlog", "up-next"]
    for role in ("agent", "viewer"):
        with web.client(web.token(role)) as c:
            assert c.get("/api/board").json()["moves"] == _table(None)
            assert c.get("/api/projects/queued").json()["moves"] == []


def test_moves_not_offered_are_still_refused(every_lane: Running, board_path: Path) -> None:
    web = every_lane
    head = git(board_path, "rev-parse", "HEAD").stdout
    session, csrf = web.session()
    try:
        for pid, lane in (("parked", "review"), ("parked", "done"), ("queued", "in-progress")):
            r = _write(session, csrf, "POST", f"/api/projects/{pid}/move", {"lane": lane})
            assert r.status_code in (403, 409), (pid, lane, r.text)
    finally:
        session.close()
    for role in ("agent", "viewer"):
        with web.client(web.token(role)) as c:
            r = c.post("/api/projects/parked/move", json={"lane": "up-next"})
            assert r.status_code == 403, r.text
    assert git(board_path, "rev-parse", "HEAD").stdout == head


# ---------------------------------------------------------------------- the page


def _mark_cards(pg: Any) -> int:
    """Marks every card element with a property a re-render would not carry over."""
    return int(
        pg.locator("article.card").evaluate_all(
            "els => { els.forEach(e => { e.__kept = true; }); return els.length; }"
        )
    )


def _kept(pg: Any) -> dict[str, bool]:
    return dict(
        pg.locator("article.card").evaluate_all(
            "els => els.map(e => [e.dataset.project, e.__kept === true])"
        )
    )


def _board_fetches(pg: Any) -> list[str]:
    fetched: list[str] = []
    pg.on("request", lambda r: fetched.append(r.url) if "/api/board" in r.url else None)
    return fetched


def test_a_commit_patches_one_card_and_keeps_the_others(
    web: Running, page: Opened, board_path: Path
) -> None:
    _many(board_path, 40)
    pg = page.page
    pg.wait_for_selector(_card("p0039", "backlog"))
    assert _mark_cards(pg) == 40
    fetched = _board_fetches(pg)
    with Board.open(board_path) as board:
        actions.queue(board, "p0005")
    pg.wait_for_selector(_card("p0005", "up-next"))
    kept = _kept(pg)
    assert len(kept) == 40
    assert kept.pop("p0005") is False  # the moved card is drawn anew...
    assert all(kept.values())  # ...every other card is the same element
    assert fetched == []  # and the board was not fetched again
    assert page.problems == []


def test_a_version_gap_or_a_dropped_stream_makes_the_page_refetch(
    web: Running, page: Opened, board_path: Path
) -> None:
    _many(board_path, 5)
    pg = page.page
    pg.wait_for_selector(_card("p0004", "backlog"))
    fetched = _board_fetches(pg)
    # a change the page never heard of: its next event follows a version it does not hold
    lanes = web.server.web.lanes
    with lanes.lock:
        lanes._bump()
    with Board.open(board_path) as board:
        actions.queue(board, "p0001")
    pg.wait_for_selector(_card("p0001", "up-next"))
    _wait(lambda: len(fetched) >= 1)
    # the stream drops; a commit lands while it is down; the page reloads on reconnect
    web.server.web.hub.disconnect_all()
    with Board.open(board_path) as board:
        actions.queue(board, "p0002")
    pg.wait_for_selector(_card("p0002", "up-next"), timeout=10000)
    expect(pg.locator("section.lane-up-next article.card")).to_have_count(2)
    expect(pg.locator("section.lane-backlog article.card")).to_have_count(3)
    assert page.problems == []


def _a_card_not_loaded(page: Opened, board_path: Path) -> tuple[Any, Any, str]:
    """130 backlog projects, the page showing the lane's first 100: the page, the lane,
    and the id of a project it has not loaded."""
    _many(board_path, 130)
    pg = page.page
    backlog = pg.locator("section.lane-backlog")
    expect(backlog.locator("article.card")).to_have_count(100)
    shown = set(
        backlog.locator("article.card").evaluate_all("els => els.map(e => e.dataset.project)")
    )
    return pg, backlog, next(f"p{i:04d}" for i in range(130) if f"p{i:04d}" not in shown)


def test_show_more_pages_a_lane_and_search_finds_what_is_not_loaded(
    web: Running, page: Opened, board_path: Path
) -> None:
    pg, backlog, missing = _a_card_not_loaded(page, board_path)
    assert (backlog.locator(".lane-count").text_content() or "").strip() == "130"
    pg.fill("input[name=q]", f"Project {int(missing[1:])}")
    expect(pg.locator(_card(missing, "backlog"))).to_be_visible()
    pg.fill("input[name=q]", "")
    expect(backlog.locator("article.card")).to_have_count(100)
    backlog.locator(".show-more").click()
    expect(backlog.locator("article.card")).to_have_count(130)
    expect(backlog.locator(".show-more")).to_have_count(0)
    assert page.problems == []


def test_the_palette_finds_a_project_the_page_has_not_loaded(
    web: Running, page: Opened, board_path: Path
) -> None:
    """Ctrl-K on a board whose lane is not all loaded: the server's search adds the rest."""
    pg, _backlog, missing = _a_card_not_loaded(page, board_path)
    pg.keyboard.press("Control+K")
    pg.fill("#palette-input", f"Project {int(missing[1:])}")
    option = pg.locator(f'#palette-list [role="option"][data-project="{missing}"]')
    expect(option).to_have_count(1)
    option.click()
    pg.wait_for_url(f"**/#/project/{missing}")
    assert page.problems == []


def test_the_page_offers_only_the_moves_the_rules_allow(
    every_lane: Running, page: Opened, board_path: Path
) -> None:
    pg = page.page
    pg.wait_for_selector(_card("running", "in-progress"))
    table = _table(Role.APPROVER)  # alice signs on this server
    expected = {
        "parked": table["backlog"],
        "queued": table["up-next"],
        "running": table["in-progress"],
        "ready": table["review"],  # with done: its review passed
    }
    for pid, moves in expected.items():
        options = pg.locator(f"{_card(pid)} .move-select option").evaluate_all(
            "els => els.map(e => e.value).filter(Boolean)"
        )
        assert options == moves, pid
        # a drag offers the same lanes as drop targets
        transfer = pg.evaluate_handle("() => new DataTransfer()")
        pg.locator(_card(pid)).dispatch_event("dragstart", {"dataTransfer": transfer})
        allowed = pg.locator("section.lane.drop-allowed").evaluate_all(
            "els => els.map(e => e.dataset.lane)"
        )
        pg.locator(_card(pid)).dispatch_event("dragend")
        assert allowed == moves, pid
    assert "done" in expected["ready"]
    assert page.problems == []


@pytest.fixture
def viewer_page(browser: Browser, every_lane: Running) -> Iterator[Any]:
    """The board as a read-only principal sees it (its token, sent as a header)."""
    token = every_lane.token("viewer")
    context = browser.new_context(extra_http_headers={"authorization": f"Bearer {token}"})
    pg = context.new_page()
    pg.goto(every_lane.origin)
    yield pg
    context.close()


def test_a_read_only_principal_is_offered_no_moves(viewer_page: Any) -> None:
    pg = viewer_page
    pg.wait_for_selector(_card("running", "in-progress"))
    assert pg.locator(".move-select").count() == 0
    assert pg.locator("article.card[draggable=true]").count() == 0


def test_overdue_follows_the_clock_without_a_commit(
    web: Running, page: Opened, board_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mc.web import lanes

    monkeypatch.setattr(lanes, "CLOCK_SECONDS", 0.3)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
    (board_path / "backlog" / "soon.yaml").write_text(
        f"title: Due soon\narchetype: coder\ndue: {due.isoformat()}\n"
    )
    git(board_path, "add", "-A")
    git(board_path, "commit", "-q", "-m", "due soon")
    pg = page.page
    pg.wait_for_selector(_card("soon", "backlog"))
    assert pg.locator(f"{_card('soon')} .due.overdue").count() == 0
    fetched = _board_fetches(pg)
    expect(pg.locator(f"{_card('soon')} .due.overdue")).to_have_count(1, timeout=15000)
    assert fetched == []  # the clock's board event patched it
    with web.client(web.token("viewer")) as c:
        card = _lanes(c.get("/api/board").json())["backlog"]["projects"][0]
    assert card["id"] == "soon" and card["overdue"] is True


# ---------------------------------------------------------------------- breaking it


def _fresh(web: Running) -> dict[str, list[str]]:
    """Each lane's ids, in order, as a fresh read of the mirror gives them."""
    from mc.web.lanes import rank_of

    with db.connect(web.url) as conn:
        rows = db.fetch_all(conn, "board_cards")
    out: dict[str, list[str]] = {name: [] for name in LANE_NAMES_ORDERED}
    for row in sorted(rows, key=rank_of):
        out[row["lane"]].append(row["id"])
    return out


def _held(web: Running) -> dict[str, list[str]]:
    """Each lane's ids, in order, as the server holds them in memory."""
    lanes = web.server.web.lanes
    with lanes.lock:
        return {name: [r[-1] for r in ranks] for name, ranks in lanes.order.items()}


def test_two_writers_at_once_leave_the_page_and_server_as_the_mirror(
    web: Running, page: Opened, board_path: Path
) -> None:
    _many(board_path, 30)
    pg = page.page
    pg.wait_for_selector(_card("p0029", "backlog"))
    errors: list[BaseException] = []

    def writer(ids: range) -> None:
        try:
            with Board.open(board_path) as board:
                for i in ids:
                    actions.queue(board, f"p{i:04d}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(r,)) for r in (range(0, 8), range(8, 16))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    web.wait_synced()
    expect(pg.locator("section.lane-up-next article.card")).to_have_count(16, timeout=10000)
    expect(pg.locator("section.lane-backlog article.card")).to_have_count(14)
    _wait(lambda: _held(web) == _fresh(web))
    shown = pg.locator("section.lane-up-next article.card").evaluate_all(
        "els => els.map(e => e.dataset.project)"
    )
    assert shown == _fresh(web)["up-next"]  # the page's order is the server's
    assert page.problems == []


def test_a_killed_listener_connection_is_caught_up(
    web: Running, page: Opened, board_path: Path
) -> None:
    _many(board_path, 4)
    pg = page.page
    pg.wait_for_selector(_card("p0003", "backlog"))
    with db.connect(web.url, autocommit=True) as conn:
        # a change whose notification is lost (no NOTIFY): only the catch-up can find it
        conn.execute("UPDATE projects SET title = 'Missed change' WHERE id = 'p0000'")
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name IN ('mc web listen', 'mc web read')"
        ).fetchall()
    assert killed
    with Board.open(board_path) as board:  # while the server is not listening, perhaps
        actions.queue(board, "p0002")
    pg.wait_for_selector(_card("p0002", "up-next"), timeout=15000)
    _wait(lambda: _held(web) == _fresh(web))
    expect(pg.locator(f"{_card('p0000')} .card-title")).to_have_text("Missed change")
    with Board.open(board_path) as board:  # and it listens again
        actions.queue(board, "p0003")
    pg.wait_for_selector(_card("p0003", "up-next"), timeout=15000)
    assert page.problems == []


def test_a_searched_title_is_text_not_markup(web: Running, page: Opened, board_path: Path) -> None:
    _many(board_path, 120)
    hostile = '<img src=x onerror="window.__owned=1">'
    (board_path / "backlog" / "zz-hostile.yaml").write_text(
        f"title: '{hostile}'\narchetype: coder\n"
    )
    git(board_path, "add", "-A")
    git(board_path, "commit", "-q", "-m", "hostile")
    pg = page.page
    expect(pg.locator("section.lane-backlog .lane-count")).to_have_text("121")
    assert pg.locator(_card("zz-hostile")).count() == 0  # not on the first page
    pg.fill("input[name=q]", "onerror")
    title = pg.locator(f"{_card('zz-hostile')} .card-title")
    expect(title).to_have_text(hostile)
    assert pg.locator("article.card img").count() == 0
    assert pg.evaluate("() => window.__owned") is None
    # a query of quotes, percent signs and regex characters is only words
    pg.fill("input[name=q]", "%' OR 1=1 -- .*")
    expect(pg.locator("section.lane-backlog .lane-shown")).to_have_text("0 shown")
    assert page.problems == []


@pytest.fixture
def unsigned(git_env: Path) -> None:
    """The person has no signing key on this machine: the server cannot sign as them."""
    git(git_env.parent, "config", "--global", "--unset", "user.signingkey")


def test_done_is_not_offered_where_the_server_cannot_sign(
    unsigned: None, every_lane: Running, page: Opened
) -> None:
    pg = page.page
    pg.wait_for_selector(_card("ready", "review"))
    table = _table(Role.HUMAN)
    options = pg.locator(f"{_card('ready')} .move-select option").evaluate_all(
        "els => els.map(e => e.value).filter(Boolean)"
    )
    assert options == table["review"] == ["backlog", "up-next"]
    assert pg.locator(f"{_card('parked')} .move-select option[value=up-next]").count() == 1
    # the project page shows the command to run instead of an approve button
    pg.goto(f"{every_lane.origin}/#/project/ready")
    expect(pg.locator("[data-role=approve-command]")).to_have_text("mc approve ready")
    assert pg.locator("[data-action=approve]").count() == 0
    assert page.problems == []
