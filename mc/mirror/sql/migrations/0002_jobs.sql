-- 0002: the job queue (work and review runs of agents) and their logs.

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
    finished_at      timestamptz
);
-- At most one active job per project, whatever the caller does.
CREATE UNIQUE INDEX jobs_one_active_per_project ON jobs (project_id)
    WHERE state IN ('queued', 'running');
CREATE INDEX jobs_ready ON jobs (priority, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_project ON jobs (project_id, id DESC);

-- What an agent printed, in order, as it printed it.
CREATE TABLE job_log (
    id      bigserial PRIMARY KEY,
    job_id  bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    stream  text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'mc')),
    text    text NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_log_job ON job_log (job_id, id);
