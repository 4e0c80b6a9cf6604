"""mc.errors: one root, a subclass per thing that went wrong, each with its default
message (the docstring) and HTTP status; the web's one handler answers with that status."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

import mc
from mc import errors
from mc.errors import Busy, McError, NotHere, TokenNotFound
from mc.mirror import auth
from mc.mirror.auth import Principal
from mc.web import http
from mc.web.app import not_found
from mc.web.http import Ctx, Guard, endpoint, error

PACKAGE = Path(mc.__file__).parent


def _subclasses(cls: type[McError]) -> Iterator[type[McError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


ERRORS = sorted({McError, *_subclasses(McError)}, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_has_a_default_message_and_a_status(cls: type[McError]) -> None:
    doc = cls.__dict__.get("__doc__")
    assert doc and doc.strip(), f"{cls.__name__}: its docstring is its default message"
    # Its own status, or its parent's (InvalidSetting is an InvalidInput), never by default
    # the root's 500.
    said = [k for k in cls.__mro__ if "http_status" in k.__dict__ and k is not McError]
    assert said or cls is McError, f"{cls.__name__}: say its HTTP status"
    assert isinstance(cls.http_status, int) and 400 <= cls.http_status <= 599
    assert cls.__module__ == "mc.errors", f"{cls.__name__}: define it in mc/errors.py"
    assert cls().message == " ".join(doc.split())  # one line, whatever the docstring's
    assert cls("said").message == "said"


def test_no_error_class_is_defined_outside_errors_py() -> None:
    names = {cls.__name__ for cls in ERRORS}
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                }
                if bases & names:
                    stray.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert stray == [], "an McError subclass belongs in mc/errors.py"


def test_errors_imports_nothing() -> None:
    """The git hooks import it on every commit: it stays stdlib-only and import-free."""
    tree = ast.parse((PACKAGE / "errors.py").read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert imported == ["__future__"]


# ---------------------------------------------------------------------- the web's one handler


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_the_web_answers_an_error_with_its_class_status(cls: type[McError]) -> None:
    response = error(cls("what went wrong"))
    assert response.status_code == cls.http_status
    assert json.loads(response.body) == {"error": "what went wrong"}


def test_details_are_more_fields_of_the_body() -> None:
    response = error(NotHere("approve on your own machine", command="mc approve x"))
    assert response.status_code == 409
    assert json.loads(response.body) == {
        "error": "approve on your own machine",
        "command": "mc approve x",
    }


def test_anything_else_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "mc.web"):
        response = error(RuntimeError("a bug"))
    assert response.status_code == 500
    assert json.loads(response.body) == {"error": "internal error (see the server's log)"}
    assert caplog.records and caplog.records[0].exc_info is not None


class _Web:
    """Just enough of mc.web.state.Web for endpoint(): a connection that is never used."""

    @contextmanager
    def connection(self) -> Iterator[None]:
        yield None


def _raises(exc: Exception) -> Any:
    def handler(c: Ctx) -> Response:
        raise exc

    return endpoint(handler)


def _get(app: ASGIApp, *paths: str, **headers: str) -> list[httpx.Response]:
    async def get() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return [await c.get(path, headers=headers) for path in paths]

    # On a thread of its own: the browser tests' Playwright keeps an event loop running
    # on the main thread for the rest of the session.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, get()).result(timeout=60)


def test_a_route_answers_a_named_error_with_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    who = Principal("alice", "human", "token", b"digest")
    monkeypatch.setattr(http, "authenticate", lambda request, conn: who)
    app = Starlette(
        routes=[
            Route("/busy", _raises(Busy("main kept moving during edit; try again"))),
            Route("/token", _raises(TokenNotFound())),
            Route("/bug", _raises(ZeroDivisionError())),
            Route("/{rest:path}", not_found),
        ]
    )
    app.state.web = _Web()
    guarded = Guard(app, hosts={"testserver"}, events=app)
    busy, token, bug, nothing = _get(guarded, "/busy", "/token", "/bug", "/nothing")
    assert busy.status_code == 409
    assert busy.json() == {"error": "main kept moving during edit; try again"}
    assert token.status_code == 404
    assert token.json() == {"error": TokenNotFound().message}
    assert bug.status_code == 500
    assert nothing.status_code == 404 and "no such endpoint" in nothing.json()["error"]
    (foreign,) = _get(guarded, "/busy", host="evil.example")
    assert foreign.status_code == 403 and "Host" in foreign.json()["error"]


def test_a_refusal_of_who_asks_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A viewer may not write: NotAllowed, 403, from the same handler."""
    monkeypatch.setattr(
        http, "authenticate", lambda request, conn: Principal("v", "viewer", "token", b"d")
    )
    app = Starlette(routes=[Route("/write", endpoint(lambda c: Response(), roles=auth.HUMAN))])
    app.state.web = _Web()
    (r,) = _get(app, "/write")
    assert r.status_code == errors.NotAllowed.http_status == 403
    assert r.json() == {"error": "a viewer may not do this"}
