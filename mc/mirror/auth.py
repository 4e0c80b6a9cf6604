"""Who is asking: API tokens, one-time login links and browser sessions (kept in the
mirror's database; the web server and the CLI both use them).

The actor of every request is the principal found here, never anything in a request
body. Secrets are 32 random bytes (urlsafe base64); only their SHA-256 digests are
stored, so a copy of the database gives no usable token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any, NamedTuple

from mc.errors import InvalidInput, TokenExists, TokenNotFound
from mc.mirror import db

ROLES = ("human", "agent", "viewer")
# Who may do what, for every surface (the web's routes, the MCP tools): a viewer reads,
# an agent also comments, adds tasks and reports its hand-off job; only a person
# creates, edits, moves and queues. Nobody approves through a token: that is a signature.
READ = frozenset({"human", "agent", "viewer"})
HUMAN = frozenset({"human"})
HUMAN_OR_AGENT = frozenset({"human", "agent"})
LOGIN_TTL = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(days=30)


class Principal(NamedTuple):
    """An authenticated caller."""

    name: str
    role: str  # human, agent or viewer
    via: str  # "session" or "token"
    secret_digest: bytes  # of the session or token (the CSRF value derives from it)
    scope: str | None = None  # an agent token bound to "job:N" or "project:ID"

    def may_report(self, job_id: int, project_id: str) -> bool:
        """A hand-off job's outcome: a person, or the agent token bound to that job (or
        its project) — not any agent token (one agent must not report another's work)."""
        if self.role == "human":
            return True
        return self.role == "agent" and self.scope in (f"job:{job_id}", f"project:{project_id}")

    @property
    def csrf(self) -> str:
        """The value a cookie session's writes must carry in X-CSRF-Token."""
        return hmac.new(self.secret_digest, b"mc-csrf", hashlib.sha256).hexdigest()


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _issue(
    conn: db.Connection,
    kind: str,
    name: str,
    role: str,
    ttl: dt.timedelta | None,
    scope: str | None = None,
) -> str:
    if role not in ROLES:
        raise InvalidInput(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    if not 1 <= len(name) <= 100 or any(c.isspace() and c != " " for c in name):
        raise InvalidInput("NAME: 1 to 100 characters on one line")
    secret = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + ttl if ttl else None
    with db.translated(), conn.transaction():
        if kind == "api" and any(
            r["name"] == name for r in db.fetch_all(conn, "token_list", {"all": False})
        ):
            raise TokenExists(f"a token named {name!r} exists: revoke it or pick another name")
        db.fetch_one(
            conn,
            "token_insert",
            {
                "kind": kind,
                "name": name,
                "role": role,
                "digest": digest(secret),
                "expires_at": expires,
                "scope": scope,
            },
        )
    return secret


def create_token(
    conn: db.Connection,
    name: str,
    role: str,
    *,
    scope: str | None = None,
    ttl: dt.timedelta | None = None,
) -> str:
    """A bearer token for scripts and agents (`mc token create NAME --role ROLE`); an
    agent token may be bound to one job or project (``scope``: "job:N", "project:ID")."""
    if scope is not None and role != "agent":
        raise InvalidInput("--job/--project: only an agent token is bound to a job or project")
    return _issue(conn, "api", name, role, ttl, scope)


def list_tokens(conn: db.Connection, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    rows = db.fetch_all(conn, "token_list", {"all": include_revoked})
    conn.commit()
    return rows


def revoke_token(conn: db.Connection, name: str) -> dict[str, Any]:
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "token_revoke", {"name": name})
    if row is None:
        raise TokenNotFound(f"no active token named {name!r} (see mc token list)")
    return row


def create_login_link(conn: db.Connection, name: str = "you") -> str:
    """A one-time secret for the browser's login link (valid 15 minutes)."""
    return _issue(conn, "login", name, "human", LOGIN_TTL)


def consume_login(conn: db.Connection, secret: str) -> str | None:
    """Trade a login link's secret for a new session secret (None if unknown/used/expired)."""
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "token_consume", {"digest": digest(secret)})
        if row is None:
            return None
        session = secrets.token_urlsafe(32)
        db.fetch_one(
            conn,
            "token_insert",
            {
                "kind": "session",
                "name": row["name"],
                "role": row["role"],
                "digest": digest(session),
                "expires_at": dt.datetime.now(dt.UTC) + SESSION_TTL,
                "scope": None,
            },
        )
    return session


def lookup(conn: db.Connection, secret: str, via: str) -> Principal | None:
    """The principal behind a bearer token ("token") or a session cookie ("session")."""
    if not secret or len(secret) > 200:
        return None
    d = digest(secret)
    kinds = ["api"] if via == "token" else ["session"]
    with db.translated(), conn.transaction():
        row = db.fetch_one(conn, "token_lookup", {"digest": d, "kinds": kinds})
        if row is not None and row["stale"] is not False:  # last use kept to the minute
            db.execute(conn, "token_touch", {"id": row["id"]})
    if row is None:
        return None
    return Principal(row["name"], row["role"], via, d, row["scope"])


def end_session(conn: db.Connection, who: Principal) -> None:
    """Log a browser session out (its cookie stops working)."""
    with db.translated(), conn.transaction():
        db.execute(conn, "session_end", {"digest": who.secret_digest})


def end_all_sessions(conn: db.Connection) -> int:
    """`mc logout`: every browser session and unused login link ends now."""
    with db.translated(), conn.transaction():
        return db.execute(conn, "sessions_end_all")
