-- The web board: API tokens, one-time login links, browser sessions, comments.

-- Secrets are stored as SHA-256 digests only (they are 32 random bytes, so a plain
-- digest is enough; no password hashing needed). kind: 'api' (mc token create),
-- 'login' (a one-time link; used once, then revoked), 'session' (a browser cookie).
CREATE TABLE tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('api', 'login', 'session')),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         text NOT NULL CHECK (role IN ('human', 'agent', 'viewer')),
    digest       bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX tokens_api_name ON tokens (name) WHERE kind = 'api' AND revoked_at IS NULL;

-- Comments on projects (people and agents); they live only here, like tasks.
CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id text NOT NULL,
    author     text NOT NULL,
    role       text NOT NULL,
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_project ON comments (project_id, id);
