-- The whole schema as of the newest migration. A new database gets this file; an
-- existing one gets the migrations in migrations/. tests/mirror/test_db.py proves both
-- give the same database.

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
    recorded_at timestamptz NOT NULL DEFAULT now(),
    title      text,                       -- the project's title then (mc/mirror/words.py)
    detail     text NOT NULL DEFAULT ''    -- review notes, a reason, the archetype dispatched
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

-- The job queue ------------------------------------------------------------------

-- One row per job. A job is claimed under a lease (lease_until) that its worker
-- renews; every claim bumps lease_token, and every write by a worker names the token
-- it claimed with, so a worker whose lease ran out can never record over its
-- successor (fencing).
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('work', 'review')),
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    archetype        text NOT NULL,
    priority         smallint NOT NULL DEFAULT 3,
    round            smallint NOT NULL DEFAULT 1,
    run_after        timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3,
    tempfails        integer NOT NULL DEFAULT 0,
    lease_token      bigint NOT NULL DEFAULT 0,
    lease_until      timestamptz,
    worker           text,
    cancel_requested boolean NOT NULL DEFAULT false,
    last_error       text,
    result           jsonb,
    reported         jsonb,  -- a handoff job's outcome, as reported by mc job complete|fail
    notes            text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    awaiting_report  boolean NOT NULL DEFAULT false,  -- a hand-off job, announced
    model            text,  -- the model its runs asked for
    input_tokens     bigint NOT NULL DEFAULT 0,  -- usage as the CLI reported it, all attempts
    output_tokens    bigint NOT NULL DEFAULT 0,
    cached_tokens    bigint NOT NULL DEFAULT 0,
    cost_usd         numeric(14, 6),
    last_step        text,  -- the agent's latest step, in words
    cost_at          timestamptz  -- when its last cost was added
);
-- At most one active job per project, whatever the caller does.
CREATE UNIQUE INDEX jobs_one_active_per_project ON jobs (project_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX jobs_ready ON jobs (priority, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_project ON jobs (project_id, id DESC);
CREATE INDEX jobs_cost_at ON jobs (cost_at) WHERE cost_at IS NOT NULL;

-- What an agent printed, in order, as it printed it.
CREATE TABLE job_log (
    id      bigserial PRIMARY KEY,
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    stream  text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'mc')),
    text    text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    shown   text  -- the line as a person reads it (NULL: as printed)
);
CREATE INDEX job_log_job ON job_log (job_id, id);

-- The web board ------------------------------------------------------------------

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
    revoked_at   timestamptz,
    scope        text  -- an agent token bound to "job:N" or "project:ID"
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

-- Comments on lines of a coder project's change (the diff of its branch): a person's
-- notes for the next run. The quoted code and the commit keep what was commented on
-- after the branch moves; resolved_at is set when a later run changed those lines
-- (resolved_by 'run') or when the person marks it (resolved_by = their name).
CREATE TABLE diff_comments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  text NOT NULL,
    path        text NOT NULL CHECK (length(path) BETWEEN 1 AND 4096),
    side        text NOT NULL CHECK (side IN ('old', 'new')),
    start_line  integer NOT NULL CHECK (start_line >= 1),
    end_line    integer NOT NULL CHECK (end_line >= start_line),
    quote       text NOT NULL,
    commit      text NOT NULL,
    author      text NOT NULL,
    role        text NOT NULL,
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by text,
    resolved_on text   -- the branch head whose diff no longer has the quoted lines
);
CREATE INDEX diff_comments_project ON diff_comments (project_id, id);

-- Notifications ---------------------------------------------------------------------

CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL,   -- ready_for_human, needs_human, dead, approved, budget, handoff
    project_id text,
    job_id     bigint,
    title      text NOT NULL,   -- the project's title (or what the event is about)
    detail     text NOT NULL DEFAULT '',   -- the reason, the review's notes, ...
    created_at timestamptz NOT NULL DEFAULT now(),
    expanded   boolean NOT NULL DEFAULT false  -- its deliveries are made
);
CREATE INDEX outbox_unexpanded ON outbox (id) WHERE NOT expanded;

-- One row per event and target. The target is the digest of its URL (a URL may hold a
-- secret: only a masked label is kept). sent is final: an event acknowledged by a
-- target is never sent to it again.
CREATE TABLE deliveries (
    outbox_id     bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    target        text NOT NULL,
    label         text NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    last_error    text,
    sent_at       timestamptz,
    PRIMARY KEY (outbox_id, target)
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';
