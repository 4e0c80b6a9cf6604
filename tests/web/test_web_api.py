"""The web API against a real server, database, daemon and board: every route, status code
and auth rule."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from mc.board import actions
from mc.board.board import Board
from mc.mirror import db
from mc.pipeline import jobs

from ..conftest import Key, git, to_review
from ..webfixtures import Running, web  # noqa: F401

# ruff: noqa: F811  (the web fixture is imported by name)


def _head(board_path: Path) -> str:
    return git(board_path, "rev-parse", "HEAD").stdout.strip()


def _lane(board_path: Path, pid: str) -> str | None:
    names = git(board_path, "ls-tree", "-r", "--name-only", "HEAD").stdout.split()
    found = [n.split("/")[0] for n in names if n.endswith(f"/{pid}.yaml") and "/" in n]
    return found[0] if found else None


def _new(
    board_path: Path, pid: str, lane: actions.Lane = actions.Lane.BACKLOG, **fields: Any
) -> None:
    with Board.open(board_path) as board:
        actions.new_project(board, pid, "coder", project_id=pid, lane=lane, fields=fields)


def _write(
    c: httpx.Client, csrf: str, method: str, path: str, body: Any = None, **headers: str
) -> httpx.Response:
    return c.request(
        method,
        path,
        json=body if body is not None else {},
        headers={"x-csrf-token": csrf, "origin": str(c.base_url).rstrip("/"), **headers},
    )


# ---------------------------------------------------------------------- authentication


def test_login_link_is_one_time_and_sets_a_strict_httponly_cookie(web: Running) -> None:
    url = web.server.login_url()
    with httpx.Client(timeout=10) as c:
        first = c.get(url)
        assert first.status_code == 200
        cookie = first.headers["set-cookie"]
        assert "mc_session_" in cookie and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "default-src 'none'" in first.headers["content-security-policy"]
        session = c.get(f"{web.origin}/api/session").json()
        assert session["role"] == "human" and session["via"] == "session" and session["csrf"]
    with httpx.Client(timeout=10) as again:
        assert again.get(url).status_code == 403  # used
        assert again.get(f"{web.origin}/api/board").status_code == 401


def test_no_or_bad_credentials_are_401_with_a_json_error(web: Running) -> None:
    with web.client() as c:
        r = c.get("/api/board")
        assert r.status_code == 401 and "not logged in" in r.json()["error"]
    with web.client("nope") as c:
        assert c.get("/api/board").status_code == 401
    with web.client() as c:
        r = c.get("/api/board", headers={"authorization": "Basic abc"})
        assert r.status_code == 401 and "Bearer" in r.json()["error"]


def test_a_revoked_token_stops_working(web: Running, board_path: Path) -> None:
    from ..conftest import run_mc

    env = {"MC_DATABASE_URL": web.url}
    made = run_mc(board_path, "token", "create", "ci-bot", "--role", "agent", env=env)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().split()[-1]
    with web.client(token) as c:
        assert c.get("/api/board").status_code == 200
        session = c.get("/api/session").json()
        assert (
            session.pop("sandbox")
            == {"state": "on", "message": "agents run confined (bubblewrap, as nobody)"}
            or os.geteuid() != 0
        )
        assert session == {
            "name": "ci-bot", "role": "agent", "via": "token", "csrf": None, "can_sign": False,
            "signer": None,
        }  # fmt: skip
    listed = run_mc(board_path, "token", "list", "--json", env=env)
    assert [t["name"] for t in json.loads(listed.stdout)] == ["ci-bot"]
    assert token not in listed.stdout  # only digests are kept
    assert run_mc(board_path, "token", "revoke", "ci-bot", env=env).returncode == 0
    with web.client(token) as c:
        assert c.get("/api/board").status_code == 401


def test_a_foreign_host_header_is_refused(web: Running) -> None:
    token = web.token("human")
    with web.client(token) as c:
        r = c.get("/api/board", headers={"host": "evil.example:8765"})
        assert r.status_code == 403 and "Host" in r.json()["error"]
        r = c.get("/", headers={"host": "evil.example"})
        assert r.status_code == 403


def test_html_has_a_strict_content_security_policy(web: Running) -> None:
    with web.client() as c:
        r = c.get("/")
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_cookie_writes_need_the_csrf_header_and_the_same_origin(
    web: Running, board_path: Path
) -> None:
    _new(board_path, "alpha")
    web.wait_synced()
    c, csrf = web.session()
    before = _head(board_path)
    origin = web.origin
    no_csrf = c.post("/api/projects/alpha/queue", json={}, headers={"origin": origin})
    assert no_csrf.status_code == 403 and "x-csrf-token" in no_csrf.json()["error"]
    wrong = c.post(
        "/api/projects/alpha/queue", json={}, headers={"origin": origin, "x-csrf-token": "x"}
    )
    assert wrong.status_code == 403
    foreign = c.post(
        "/api/projects/alpha/queue",
        json={},
        headers={"origin": "http://evil.example", "x-csrf-token": csrf},
    )
    assert foreign.status_code == 403 and "Origin" in foreign.json()["error"]
    missing = c.post("/api/projects/alpha/queue", json={}, headers={"x-csrf-token": csrf})
    assert missing.status_code == 403
    assert _head(board_path) == before
    ok = _write(c, csrf, "POST", "/api/projects/alpha/queue")
    assert ok.status_code == 200, ok.text
    assert ok.json()["lane"] == "up-next" and _lane(board_path, "alpha") == "up-next"
    c.close()


def test_a_body_cannot_name_an_actor_or_role(web: Running, board_path: Path) -> None:
    _new(board_path, "alpha")
    token = web.token("human")
    before = _head(board_path)
    with web.client(token) as c:
        r = c.post("/api/projects", json={"title": "X", "archetype": "coder", "actor": "reviewer"})
        assert r.status_code == 422 and r.json()["error"].startswith("actor: not a field")
        r = c.post("/api/projects/alpha/queue", json={"role": "human"})
        assert r.status_code == 422 and "role" in r.json()["error"]
        r = c.post("/api/tasks", json={"title": "t", "author": "someone"})
        assert r.status_code == 422
    assert _head(board_path) == before


def test_agent_tokens_read_add_tasks_and_comments_but_never_move_or_approve(
    web: Running, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    token = web.token("agent")
    before = _head(board_path)
    with web.client(token) as c:
        assert c.get("/api/board").status_code == 200
        assert c.get("/api/projects/ready").status_code == 200
        for action in ("approve", "queue", "cancel", "retry"):
            r = c.post(f"/api/projects/ready/{action}", json={})
            assert r.status_code == 403, (action, r.text)
        assert c.post("/api/projects/ready/move", json={"lane": "backlog"}).status_code == 403
        assert (
            c.patch(
                "/api/projects/ready", json={"title": "x"}, headers={"if-match": "x"}
            ).status_code
            == 403
        )
        assert c.post("/api/projects", json={"title": "x", "archetype": "coder"}).status_code == 403
        task = c.post("/api/tasks", json={"title": "Check the logs", "project": "ready"})
        assert task.status_code == 201 and task.json()["project_id"] == "ready"
        comment = c.post("/api/projects/ready/comments", json={"text": "Looks done to me."})
        assert comment.status_code == 201
        assert comment.json()["author"] == "agent-token" and comment.json()["role"] == "agent"
    assert _head(board_path) == before
    viewer = web.token("viewer")
    with web.client(viewer) as c:
        assert c.get("/api/tasks").status_code == 200
        assert c.post("/api/tasks", json={"title": "nope"}).status_code == 403
        assert c.post("/api/projects/ready/comments", json={"text": "x"}).status_code == 403


# ---------------------------------------------------------------------- projects


def test_unknown_ids_and_paths_are_404_json(web: Running) -> None:
    token = web.token("human")
    with web.client(token) as c:
        for path in (
            "/api/projects/nope",
            "/api/jobs/999",
            "/api/tasks/999",
            "/api/projects/nope/artifacts",
        ):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["error"], path
        r = c.get("/api/nothing/here")
        assert r.status_code == 404 and "no such endpoint" in r.json()["error"]
        assert c.post("/api/projects/nope/queue", json={}).status_code == 404


def test_create_edit_with_if_match(web: Running, board_path: Path) -> None:
    token = web.token("human")
    with web.client(token) as c:
        r = c.post(
            "/api/projects",
            json={
                "title": "Build a CLI",
                "archetype": "coder",
                "due": "2026-12-01",
                "labels": ["cli"],
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["id"] == "build-a-cli" and _lane(board_path, "build-a-cli") == "backlog"
        bad = c.post("/api/projects", json={"title": "X", "archetype": "astronaut"})
        assert bad.status_code == 422 and "archetype" in bad.json()["error"]
        bad = c.post("/api/projects", json={"title": "X", "archetype": "coder", "priority": 9})
        assert bad.status_code == 422 and "priority" in bad.json()["error"]
        got = c.get("/api/projects/build-a-cli")
        etag = got.headers["etag"]
        assert got.json()["data"]["labels"] == ["cli"] and etag.strip('"') == got.json()["etag"]
        before = _head(board_path)
        assert c.patch("/api/projects/build-a-cli", json={"title": "Y"}).status_code == 428
        stale = c.patch(
            "/api/projects/build-a-cli", json={"title": "Y"}, headers={"if-match": '"0000"'}
        )
        assert stale.status_code == 412
        assert _head(board_path) == before
        ok = c.patch(
            "/api/projects/build-a-cli",
            json={"title": "Build a better CLI", "due": None, "description": "Fast.\nSmall."},
            headers={"if-match": etag},
        )
        assert ok.status_code == 200, ok.text
        assert ok.headers["etag"] != etag
        text = (board_path / "backlog" / "build-a-cli.yaml").read_text()
        assert "title: Build a better CLI" in text and "due:" not in text
        assert "description: |-\n  Fast.\n  Small." in text
        again = c.patch(
            "/api/projects/build-a-cli", json={"title": "Z"}, headers={"if-match": etag}
        )
        assert again.status_code == 412  # the old version
        pipeline = c.patch(
            "/api/projects/build-a-cli",
            json={"ready_for_human": True},
            headers={"if-match": ok.headers["etag"]},
        )
        assert pipeline.status_code == 422


def test_lane_moves_a_person_may_make_and_the_refusals(web: Running, board_path: Path) -> None:
    _new(board_path, "alpha")
    token = web.token("human")
    with web.client(token) as c:
        r = c.post("/api/projects/alpha/move", json={"lane": "up-next"})
        assert r.status_code == 200 and r.json()["lane"] == "up-next"
        subject = git(board_path, "log", "-1", "--format=%B").stdout
        assert "Mc-Action: queue" in subject
        done = c.post("/api/projects/alpha/move", json={"lane": "done"})
        assert done.status_code == 409 and "mc approve alpha" in done.json()["error"]
        review = c.post("/api/projects/alpha/move", json={"lane": "review"})
        assert review.status_code == 409 and review.json()["error"]
        bad = c.post("/api/projects/alpha/move", json={"lane": "heaven"})
        assert bad.status_code == 422 and bad.json()["error"].startswith("lane:")
        stale = c.post("/api/projects/alpha/cancel", json={}, headers={"if-match": '"abc"'})
        assert stale.status_code == 412
        back = c.post("/api/projects/alpha/cancel", json={})
        assert back.status_code == 200 and _lane(board_path, "alpha") == "backlog"
        retry = c.post("/api/projects/alpha/retry", json={})
        assert retry.status_code == 409 and "no jobs" in retry.json()["error"]


def test_approve_from_a_human_session_signs_as_the_person(
    web: Running, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
        to_review(board, "other", jobs=(3, 4), conns=(conn,))
    web.wait_synced()
    human_token = web.token("human")
    with web.client(human_token) as c:
        r = c.post("/api/projects/ready/approve", json={})
        assert r.status_code == 403 and "browser session" in r.json()["error"]
    c, csrf = web.session()
    assert c.get("/api/session").json()["can_sign"] is True
    r = _write(c, csrf, "POST", "/api/projects/ready/approve")
    assert r.status_code == 200, r.text
    assert r.json()["lane"] == "done" and _lane(board_path, "ready") == "done"
    signed = git(board_path, "log", "-1", "--format=%G? %GS").stdout.strip()
    assert signed == "G alice@example.com"  # alice's key, as mc init made her approver
    c.close()


def test_approve_where_the_server_cannot_sign_gives_the_command(
    web: Running, board_path: Path, database_url: str, keys: dict[str, Key]
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    # The server's git now signs with mallory's key, who is no approver.
    git(board_path, "config", "user.signingkey", str(keys["mallory"].public))
    web.server.web._can_sign = None
    c, csrf = web.session()
    assert c.get("/api/session").json()["can_sign"] is False
    before = _head(board_path)
    r = _write(c, csrf, "POST", "/api/projects/ready/approve")
    assert r.status_code == 409 and r.json()["command"] == "mc approve ready"
    assert _head(board_path) == before
    c.close()


def test_rework_comments_activity_and_artifacts(
    web: Running, board_path: Path, database_url: str
) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    token = web.token("human")
    with web.client(token) as c:
        art = c.get("/api/projects/ready/artifacts").json()
        assert {"path": "report.md", "size": 7, "kind": "text", "text": "# Done\n"} in art
        r = c.post("/api/projects/ready/rework", json={"notes": "Cite <sources>."})
        assert r.status_code == 200 and r.json()["lane"] == "up-next"
        assert r.json()["data"]["feedback"] == "Cite <sources>."
        assert c.post("/api/projects/ready/comments", json={"text": "on it"}).status_code == 201
        web.wait_synced()
        feed = c.get("/api/projects/ready/activity").json()
        kinds = [a["kind"] for a in feed["activity"]]
        assert "comment" in kinds and "move" in kinds and "create" in kinds
        assert (
            feed["comments"][0]["text"] == "on it"
            and feed["comments"][0]["author"] == "human-token"
        )


# ---------------------------------------------------------------------- jobs, tasks, calendar, feed


def test_jobs_and_their_logs(web: Running, board_path: Path, database_url: str) -> None:
    _new(board_path, "alpha", lane=actions.Lane.UP_NEXT)
    with db.connect(database_url) as conn:
        job = jobs.enqueue(conn, "alpha", "work", "coder")
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None
        jobs.log(conn, claimed, "stdout", "hello\n")
        jobs.log(conn, claimed, "stderr", "warn\n")
    token = web.token("viewer")
    with web.client(token) as c:
        listed = c.get("/api/jobs", params={"project": "alpha"}).json()
        assert [j["id"] for j in listed] == [job.id] and listed[0]["state"] == "running"
        assert c.get(f"/api/jobs/{job.id}").json()["worker"] == "w1"
        log = c.get(f"/api/jobs/{job.id}/log").json()
        assert [(x["stream"], x["text"]) for x in log["lines"]] == [
            ("stdout", "hello\n"),
            ("stderr", "warn\n"),
        ]
        after = log["lines"][0]["id"]
        assert len(c.get(f"/api/jobs/{job.id}/log", params={"after": after}).json()["lines"]) == 1
        assert c.get("/api/jobs/abc").status_code == 422


def test_an_agent_reports_a_handoff_job(web: Running, board_path: Path, database_url: str) -> None:
    _new(board_path, "alpha", lane=actions.Lane.UP_NEXT)
    with db.connect(database_url) as conn:
        job = jobs.enqueue(conn, "alpha", "work", "ops")
        claimed = jobs.claim(conn, "w1")
        assert claimed is not None
    mine = web.token("agent", "mine", scope=f"job:{job.id}")  # what its worker issues
    with web.client(mine) as c:  # a spawned agent's job: nobody reports it
        r = c.post(f"/api/jobs/{job.id}/complete", json={})
        assert r.status_code == 409 and "not a hand-off job" in r.json()["error"]
    with db.connect(database_url) as conn:
        jobs.await_report(conn, claimed)  # what a hand-off job's worker does
    # Issue 12.11: any other agent token — unbound, or bound to another job — may not.
    for other in (web.token("agent", "any"), web.token("agent", "else", scope="job:999")):
        with web.client(other) as c:
            refused = c.post(f"/api/jobs/{job.id}/complete", json={"notes": "mine now"})
            assert refused.status_code == 403, refused.text
            assert f"the agent token issued for job {job.id}" in refused.json()["error"]
    with web.client(mine) as c:
        bad = c.post(f"/api/jobs/{job.id}/fail", json={})
        assert bad.status_code == 422 and bad.json()["error"].startswith("error:")
        r = c.post(f"/api/jobs/{job.id}/complete", json={"notes": "Rotated the keys."})
        assert r.status_code == 200, r.text
        again = c.post(f"/api/jobs/{job.id}/complete", json={})
        assert again.status_code == 409 and "already reported" in again.json()["error"]
    with db.connect(database_url) as conn:
        assert jobs.get(conn, job.id).reported == {
            "ok": True,
            "notes": "Rotated the keys.",
            "error": "",
        }
    with web.client(web.token("viewer")) as c:
        assert c.post(f"/api/jobs/{job.id}/complete", json={}).status_code == 403


def test_tasks_crud_with_etags_and_overdue(web: Running, board_path: Path) -> None:
    _new(board_path, "alpha")
    web.wait_synced()
    token = web.token("human")
    with web.client(token) as c:
        old = c.post(
            "/api/tasks", json={"title": "Pay rent", "due": "2020-01-01", "project": "alpha"}
        )
        assert old.status_code == 201 and old.json()["overdue"] is True
        new = c.post("/api/tasks", json={"title": "Plan trip", "due": "2099-01-01"})
        assert c.post("/api/tasks", json={"title": "x", "project": "nope"}).status_code in (
            404,
            422,
        )
        assert [t["title"] for t in c.get("/api/tasks", params={"overdue": "1"}).json()] == [
            "Pay rent"
        ]
        assert [t["title"] for t in c.get("/api/tasks", params={"project": "alpha"}).json()] == [
            "Pay rent"
        ]
        tid, etag = new.json()["id"], new.headers["etag"]
        assert c.patch(f"/api/tasks/{tid}", json={"done": True}).status_code == 428
        done = c.patch(f"/api/tasks/{tid}", json={"done": True}, headers={"if-match": etag})
        assert done.status_code == 200 and done.json()["done_at"]
        stale = c.patch(f"/api/tasks/{tid}", json={"title": "z"}, headers={"if-match": etag})
        assert stale.status_code == 412
        assert [t["title"] for t in c.get("/api/tasks").json()] == ["Pay rent"]
        assert len(c.get("/api/tasks", params={"all": "1"}).json()) == 2
        oid, oetag = old.json()["id"], old.headers["etag"]
        assert c.delete(f"/api/tasks/{oid}").status_code == 428
        assert c.delete(f"/api/tasks/{oid}", headers={"if-match": '"t0-0"'}).status_code == 412
        assert c.delete(f"/api/tasks/{oid}", headers={"if-match": oetag}).status_code == 204
        assert c.get(f"/api/tasks/{oid}").status_code == 404
    with web.client(web.token("agent", "a")) as c:
        assert c.delete(f"/api/tasks/{tid}", headers={"if-match": "x"}).status_code == 403


def test_calendar_and_activity_pages(web: Running, board_path: Path) -> None:
    _new(board_path, "alpha", due="2026-12-03")
    for i in range(5):
        _new(board_path, f"p{i}")
    web.wait_synced()
    token = web.token("viewer")
    with web.client(token) as c:
        c2 = web.client(web.token("human", "h"))
        c2.post("/api/tasks", json={"title": "Buy tickets", "due": "2026-12-03"})
        c2.close()
        cal = c.get("/api/calendar", params={"month": "2026-12"}).json()
        day = cal["days"]["2026-12-03"]
        assert {(x["type"], x["title"]) for x in day} == {
            ("project", "alpha"),
            ("task", "Buy tickets"),
        }
        assert c.get("/api/calendar", params={"month": "2026-13"}).status_code == 422
        page = c.get("/api/activity", params={"limit": 4}).json()
        assert len(page["items"]) == 4 and page["next"] == page["items"][-1]["id"]
        rest = c.get("/api/activity", params={"before": page["next"], "limit": 50}).json()
        assert rest["next"] is None and len(rest["items"]) == 2
        assert all(a["id"] < page["next"] for a in rest["items"])


def test_metrics_json_and_prometheus(web: Running, board_path: Path, database_url: str) -> None:
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        to_review(board, "ready", conns=(conn,))
        actions.approve(board, "ready")
    _new(board_path, "alpha")
    web.wait_synced()
    token = web.token("viewer")
    with web.client(token) as c:
        m = c.get("/api/metrics").json()
        assert m["lanes"]["done"] == 1 and m["lanes"]["backlog"] == 1
        assert m["throughput"][-1]["done"] == 1 and len(m["throughput"]) == 30
        assert m["cfd"][-1]["done"] == 1 and m["cfd"][-1]["backlog"] == 1
        assert m["lead_time_hours"]["p50"] is not None
        assert m["sync_lag_seconds"] == 0.0
        text = c.get("/metrics").text
        assert 'mc_projects{lane="done"} 1.0' in text and "mc_jobs{" in text
    with web.client() as c:
        assert c.get("/metrics").status_code == 401


# ---------------------------------------------------------------------- the live feed


def _events(
    web: Running,
    token: str,
    last_id: int | None,
    out: list[tuple[str, str, str]],
    stop: threading.Event,
) -> None:
    headers = {"authorization": f"Bearer {token}"}
    if last_id is not None:
        headers["last-event-id"] = str(last_id)
    with (
        httpx.Client(base_url=web.origin, timeout=30) as c,
        c.stream("GET", "/api/events", headers=headers) as r,
    ):
        event_id = kind = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((event_id, kind, line[6:]))
                event_id = kind = ""


def _wait(predicate: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_events_stream_commits_and_replays_what_was_missed(web: Running, board_path: Path) -> None:
    token = web.token("viewer")
    got: list[tuple[str, str, str]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_events, args=(web, token, None, got, stop), daemon=True)
    reader.start()
    time.sleep(0.5)
    # A commit made with plain git on the command line.
    (board_path / "backlog" / "by-hand.yaml").write_text("title: By hand\narchetype: writer\n")
    git(board_path, "add", "backlog/by-hand.yaml")
    git(board_path, "commit", "-q", "-m", "add by hand")
    _wait(lambda: any(k == "activity" and "by-hand" in d for _, k, d in got))
    first = next(i for i, k, d in got if k == "activity" and "by-hand" in d)
    assert any(k == "board" and "by-hand" in d for _, k, d in got)
    stop.set()
    # While nobody listens, two more commits; a reconnect with Last-Event-ID gets them.
    _new(board_path, "missed-1")
    _new(board_path, "missed-2")
    web.wait_synced()
    again: list[tuple[str, str, str]] = []
    stop2 = threading.Event()
    threading.Thread(
        target=_events, args=(web, token, int(first), again, stop2), daemon=True
    ).start()
    _wait(lambda: sum(1 for _, k, _d in again if k == "activity") >= 2)
    replayed = [json.loads(d)["project_id"] for _, k, d in again if k == "activity"]
    assert replayed[:2] == ["missed-1", "missed-2"]
    assert all(int(i) > int(first) for i, k, _ in again if k == "activity")
    stop2.set()


def test_the_server_stops_promptly_with_streams_open(board_path: Path, database_url: str) -> None:
    running = Running(board_path, database_url)
    token = running.token("viewer")
    got: list[tuple[str, str, str]] = []
    stop = threading.Event()
    readers = [
        threading.Thread(target=_events, args=(running, token, None, got, stop), daemon=True)
        for _ in range(5)
    ]
    for r in readers:
        r.start()
    _wait(lambda: len(running.server.web.hub.subscribers) == 5)
    started = time.monotonic()
    running.close()
    assert time.monotonic() - started < 5
    assert not running.server.thread.is_alive()


# ---------------------------------------------------------------------- bad input, freshness


def test_bad_input_is_a_one_line_4xx(web: Running, board_path: Path) -> None:
    _new(board_path, "alpha")
    web.wait_synced()
    with web.client(web.token("human")) as c:
        r = c.post("/api/projects", json={"title": "A\x00B", "archetype": "coder"})
        assert r.status_code == 422 and r.json()["error"].startswith("title:")
        r = c.post("/api/projects/alpha/comments", json={"text": "x\x00y"})
        assert r.status_code == 422 and r.json()["error"].startswith("text:")
        assert c.get("/api/calendar", params={"month": "9999-12"}).status_code == 422
        assert c.get("/api/activity", params={"before": "9" * 30}).status_code == 422
        assert c.get("/api/projects/nope/activity").status_code == 404
        assert c.post("/api/jobs/1/log", json={"error": "x"}).status_code in (404, 405)
        big = c.post("/api/tasks", content=b"{" + b" " * (2 << 20) + b"}",
                     headers={"content-type": "application/json"})  # fmt: skip
        assert big.status_code == 413
    with web.client() as c:  # who asks is checked before the body is read
        assert c.post("/api/tasks", json={"nonsense": 1}).status_code == 401


def test_writes_answer_with_the_new_version_and_name_the_principal(
    web: Running, board_path: Path
) -> None:
    _new(board_path, "alpha", priority=2)
    web.wait_synced()
    with web.client(web.token("human", "scripts")) as c:
        etag = c.get("/api/projects/alpha").headers["etag"]
        r = c.patch(
            "/api/projects/alpha",
            json={"priority": None, "owner": "bo"},
            headers={"if-match": etag},
        )
        assert r.status_code == 200
        assert r.json()["priority"] is None and r.json()["owner"] == "bo"  # not the mirror's
        assert "Mc-Via: web: scripts (token)" in git(board_path, "log", "-1", "--format=%B").stdout
        jobs_seen = c.get("/api/jobs").json()
        assert all("lease_token" not in j for j in jobs_seen)


def test_the_board_follows_mc_yaml(web: Running, board_path: Path) -> None:
    with web.client(web.token("viewer")) as c:
        lanes = {lane["name"]: lane for lane in c.get("/api/board").json()["lanes"]}
        assert lanes["in-progress"]["wip_limit"] == 3
        text = (
            (board_path / "mc.yaml")
            .read_text()
            .replace("in-progress: {wip_limit: 3}", "in-progress: {wip_limit: 7}")
        )
        (board_path / "mc.yaml").write_text(text)
        git(board_path, "commit", "-q", "-S", "-am", "more room")
        web.wait_synced()
        _wait(
            lambda: (
                {lane["name"]: lane for lane in c.get("/api/board").json()["lanes"]}["in-progress"][
                    "wip_limit"
                ]
                == 7
            )
        )


def test_a_stale_or_foreign_last_event_id_gets_a_reload_and_live_events(
    web: Running, board_path: Path, database_url: str
) -> None:
    from mc.mirror.sync import Syncer

    _new(board_path, "alpha")
    web.wait_synced()
    token = web.token("viewer")
    with db.connect(database_url) as conn:
        top = conn.execute("SELECT max(id) AS m FROM activity").fetchone()["m"]
        with Board.open(board_path) as board:
            Syncer(board).rebuild(conn)  # mc db resync: the same history under new ids
        conn.commit()
    for n, last in enumerate((top - 1, 10**12)):  # from before the rebuild; another database
        got: list[tuple[str, str, str]] = []
        stop = threading.Event()
        threading.Thread(target=_events, args=(web, token, last, got, stop), daemon=True).start()
        _wait(lambda got=got: any(k == "board" for _, k, _d in got))
        assert [k for _, k, _d in got if k == "activity"] == []  # no replay of old ids
        _new(board_path, f"live-{n}")
        _wait(lambda got=got, n=n: any(f"live-{n}" in d for _, k, d in got if k == "activity"))
        stop.set()


def test_approve_with_a_key_that_wants_a_passphrase_fails_fast_with_the_command(
    web: Running, board_path: Path, database_url: str, tmp_path: Path
) -> None:
    """The server must not wait on a terminal prompt: the request fails, the page shows
    the command to run where the person can type the passphrase."""
    import subprocess

    key = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-C", "locked", "-f", str(key)],
        check=True,
    )
    with db.connect(database_url) as conn, Board.open(board_path) as board:
        actions.add_approver(board, "locked", (tmp_path / "locked.pub").read_text())
        to_review(board, "ready", conns=(conn,))
    web.wait_synced()
    git(board_path, "config", "user.signingkey", str(tmp_path / "locked.pub"))
    web.server.web._can_sign = None
    c, csrf = web.session()
    assert c.get("/api/session").json()["can_sign"] is True  # an approver's key, but locked
    before = _head(board_path)
    started = time.monotonic()
    r = _write(c, csrf, "POST", "/api/projects/ready/approve")
    assert time.monotonic() - started < 30
    assert r.status_code == 409 and r.json()["command"] == "mc approve ready", r.text
    assert _head(board_path) == before
    c.close()


def test_logging_out_ends_the_session(web: Running, board_path: Path) -> None:
    from ..conftest import run_mc

    c, csrf = web.session()
    assert c.post("/api/logout", json={}).status_code == 403  # no CSRF header
    out = _write(c, csrf, "POST", "/api/logout")
    assert out.status_code == 204
    assert c.get("/api/board").status_code == 401
    c.close()
    with web.client(web.token("human")) as t:
        assert t.post("/api/logout", json={}).status_code == 409
    other, _ = web.session()
    assert other.get("/api/board").status_code == 200
    ended = run_mc(board_path, "logout", env={"MC_DATABASE_URL": web.url})
    assert ended.returncode == 0 and "Ended 1 browser session" in ended.stdout
    assert other.get("/api/board").status_code == 401
    other.close()


def test_the_live_feed_survives_a_dropped_listen_connection(
    web: Running, board_path: Path, database_url: str
) -> None:
    """The server's LISTEN connection is killed (a database restart, a network cut): it
    reconnects, open streams are told to reload, and later commits still arrive."""
    token = web.token("viewer")
    got: list[tuple[str, str, str]] = []
    stop = threading.Event()
    threading.Thread(target=_events, args=(web, token, None, got, stop), daemon=True).start()
    _wait(lambda: len(web.server.web.hub.subscribers) == 1)
    with db.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
            "WHERE application_name = 'mc web listen' AND datname = current_database()"
        ).fetchone()
    assert killed is not None and killed["n"] == 1
    _new(board_path, "during-the-cut")  # may land while the server is not listening
    _wait(lambda: any(k == "board" and "reload" in d for _, k, d in got), seconds=15)
    _wait(lambda: any(k == "activity" and "during-the-cut" in d for _, k, d in got), seconds=15)
    _new(board_path, "after-the-cut")
    _wait(lambda: any(k == "activity" and "after-the-cut" in d for _, k, d in got), seconds=15)
    stop.set()


def test_every_surface_shows_the_accepted_state_and_the_divergence_alike(
    web: Running, board_path: Path, database_url: str
) -> None:
    """Issue 12.6: after a forbidden commit (an unsigned move into done, hooks skipped)
    `mc board`, `mc project list/show`, /api/board and /api/projects/ID all put the
    project where the rules accepted it and mark the divergence with the same commit and
    reason. And 12.1's part of the page: a refused mc.yaml is named in the board answer."""
    from ..conftest import run_mc

    _new(board_path, "alpha")
    _new(board_path, "beta")
    git(board_path, "mv", "backlog/alpha.yaml", "done/alpha.yaml")
    git(board_path, "commit", "-q", "--no-verify", "-m", "alpha is done, says I")
    forbidden = _head(board_path)
    web.wait_synced()
    env = {"MC_DATABASE_URL": database_url}

    def mc_json(*args: str) -> Any:
        proc = run_mc(board_path, *args, "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    viewer = web.token("viewer")
    with web.client(viewer) as c:
        card = next(
            p
            for lane in c.get("/api/board").json()["lanes"]
            for p in lane["projects"]
            if p["id"] == "alpha"
        )
        page = c.get("/api/projects/alpha").json()
    board = mc_json("board")
    listed = {p["id"]: p for p in mc_json("project", "list")}
    shown = mc_json("project", "show", "alpha")
    # And the assistant's board (MCP over HTTP): the same project, the same mark.
    from ..mcp.test_mcp import _run, _session

    async def assistant() -> tuple[Any, Any]:
        async with _session(f"{web.origin}/mcp", viewer) as client:
            listed = await client.call_tool("list_projects", {"lane": "backlog"})
            shown = await client.call_tool("show_project", {"project_id": "alpha"})
            return listed.structured_content, shown.structured_content

    over_mcp, shown_mcp = _run(assistant)
    mcp_alpha = next(p for p in over_mcp["projects"] if p["id"] == "alpha")
    answers = [card, page, listed["alpha"], shown, board["backlog"][0], mcp_alpha, shown_mcp]
    assert [a["lane"] for a in answers] == ["backlog"] * 7
    assert board["done"] == []
    for answer in answers:
        assert answer["diverged"]["commit"] == forbidden
        assert "done" in answer["diverged"]["reason"]
    assert len({json.dumps(a["diverged"], sort_keys=True) for a in answers}) == 1
    assert listed["beta"]["diverged"] is None
    said = run_mc(board_path, "board", env=env).stdout
    assert "⚠" in said and f"alpha: git differs at {forbidden[:12]}" in said
    # Without the database, the CLI still answers from git (and cannot know better).
    offline = run_mc(
        board_path,
        "project",
        "list",
        "--json",
        env={"MC_DATABASE_URL": "postgresql://127.0.0.1:1/none"},
    )
    assert offline.returncode == 0, offline.stderr
    assert {p["id"]: p["lane"] for p in json.loads(offline.stdout)}["alpha"] == "done"
    # A refused mc.yaml: the board answer names it, and keeps the accepted settings.
    text = (
        (board_path / "mc.yaml")
        .read_text()
        .replace("in-progress: {wip_limit: 3}", "in-progress: {wip_limit: 99}")
    )
    (board_path / "mc.yaml").write_text(text)
    git(board_path, "commit", "-q", "--no-verify", "-am", "unlimited, unsigned")
    refused_config = _head(board_path)
    web.wait_synced()
    with web.client(viewer) as c:
        answer = c.get("/api/board").json()
    assert answer["config_refused"]["commit"] == refused_config
    assert {lane["name"]: lane["wip_limit"] for lane in answer["lanes"]}["in-progress"] == 3
