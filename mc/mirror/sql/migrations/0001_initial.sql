-- 0001: the board mirror, activity, violations, uncommitted edits and tasks.

-- Board state mirrored from git -------------------------------------------------

CREATE TABLE mc_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per project id. Columns mirror the file as last applied (a valid
-- version the rules allowed); an invalid or refused later version leaves them as
-- they are and fills the attempted_/error or flagged_ columns instead.
CREATE TABLE projects (
    id               text PRIMARY KEY,
    lane             text NOT NULL CHECK (lane IN ('backlog', 'up-next', 'in-progress', 'review', 'done')),
    title            text,
    archetype        text,
    model            text,
    priority         smallint,
    owner            text,
    due_date         date,
    due_at           timestamptz,
    labels           text[] NOT NULL DEFAULT '{}',
    ready_for_human  boolean NOT NULL DEFAULT false,
    needs_human      boolean NOT NULL DEFAULT false,
    data             jsonb,
    applied_commit   text,
    applied_blob     text,
    attempted_commit text,
    attempted_blob   text,
    error            text,
    error_path       text,
    error_line       integer,
    error_col        integer,
    flagged          text,
    flagged_commit   text,
    lane_since       timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_lane ON projects (lane, priority, created_at);

-- Commits the rules refused: the database did not take their state.
CREATE TABLE violations (
    id          bigserial PRIMARY KEY,
    commit      text NOT NULL,
    project_id  text,
    path        text,
    message     text NOT NULL,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (commit, project_id, path, message)
);
CREATE INDEX violations_project ON violations (project_id, id DESC);

-- What happened, newest first: lane moves, edits, approvals, violations. Its ids
-- are the event ids of the live feed.
CREATE TABLE activity (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL,
    project_id text,
    from_lane  text,
    to_lane    text,
    commit     text,
    action     text,
    actor      text NOT NULL,
    who        text,
    summary    text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activity_project ON activity (project_id, id DESC);
CREATE INDEX activity_at ON activity (at);

-- Edits in lane folders that are not committed yet (not board state).
CREATE TABLE uncommitted (
    path       text PRIMARY KEY,
    project_id text,
    status     text NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- The task tracker (lives only here) ---------------------------------------------

CREATE TABLE tasks (
    id         bigserial PRIMARY KEY,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    notes      text NOT NULL DEFAULT '',
    due_date   date,
    due_at     timestamptz,
    priority   smallint CHECK (priority BETWEEN 1 AND 4),
    tags       text[] NOT NULL DEFAULT '{}',
    project_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz,
    CHECK (due_date IS NULL OR due_at IS NULL)
);
CREATE INDEX tasks_open ON tasks (done_at, due_date, due_at);
CREATE INDEX tasks_project ON tasks (project_id);
