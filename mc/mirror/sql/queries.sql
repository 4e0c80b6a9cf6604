-- Named queries: "-- name: x" starts one. Parameters are always bound (%(name)s).

-- name: meta_get
SELECT value FROM mc_meta WHERE key = %(key)s;

-- name: meta_many
SELECT key, value FROM mc_meta WHERE key = ANY(%(keys)s);

-- name: meta_set
INSERT INTO mc_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

-- name: sync_lock
SELECT pg_advisory_xact_lock(7171);

-- name: projects_by_ids
SELECT id, lane, applied_blob, applied_commit, data, flagged, flagged_commit, error,
       attempted_blob, lane_since, created_at
FROM projects WHERE id = ANY(%(ids)s);

-- name: project_upsert
INSERT INTO projects (id, lane, title, archetype, model, priority, owner, due_date, due_at,
                      labels, ready_for_human, needs_human, data, applied_commit, applied_blob,
                      attempted_commit, attempted_blob, error, error_path, error_line, error_col,
                      flagged, flagged_commit, lane_since, created_at, updated_at)
VALUES (%(id)s, %(lane)s, %(title)s, %(archetype)s, %(model)s, %(priority)s, %(owner)s,
        %(due_date)s, %(due_at)s, %(labels)s, %(ready_for_human)s, %(needs_human)s, %(data)s,
        %(applied_commit)s, %(applied_blob)s, NULL, NULL, NULL, NULL, NULL, NULL,
        %(flagged)s, %(flagged_commit)s, %(at)s, %(created_at)s, %(at)s)
ON CONFLICT (id) DO UPDATE SET
    lane = EXCLUDED.lane, title = EXCLUDED.title, archetype = EXCLUDED.archetype,
    model = EXCLUDED.model, priority = EXCLUDED.priority, owner = EXCLUDED.owner,
    due_date = EXCLUDED.due_date, due_at = EXCLUDED.due_at, labels = EXCLUDED.labels,
    ready_for_human = EXCLUDED.ready_for_human, needs_human = EXCLUDED.needs_human,
    data = EXCLUDED.data, applied_commit = EXCLUDED.applied_commit,
    applied_blob = EXCLUDED.applied_blob,
    attempted_commit = NULL, attempted_blob = NULL, error = NULL, error_path = NULL,
    error_line = NULL, error_col = NULL,
    flagged = EXCLUDED.flagged, flagged_commit = EXCLUDED.flagged_commit,
    lane_since = CASE WHEN projects.lane = EXCLUDED.lane THEN projects.lane_since
                      ELSE EXCLUDED.lane_since END,
    updated_at = EXCLUDED.updated_at;

-- name: project_attempt
-- An invalid file: the row keeps what was last applied and records the attempt.
INSERT INTO projects (id, lane, attempted_commit, attempted_blob, error, error_path, error_line,
                      error_col, lane_since, created_at, updated_at)
VALUES (%(id)s, %(lane)s, %(commit)s, %(blob)s, %(error)s, %(path)s, %(line)s, %(col)s,
        %(at)s, %(at)s, %(at)s)
ON CONFLICT (id) DO UPDATE SET
    attempted_commit = EXCLUDED.attempted_commit, attempted_blob = EXCLUDED.attempted_blob,
    error = EXCLUDED.error, error_path = EXCLUDED.error_path, error_line = EXCLUDED.error_line,
    error_col = EXCLUDED.error_col, updated_at = EXCLUDED.updated_at;

-- name: project_flag
UPDATE projects SET flagged = %(message)s, flagged_commit = %(commit)s, updated_at = %(at)s
WHERE id = %(id)s;

-- name: project_delete
DELETE FROM projects WHERE id = %(id)s;

-- name: activity_insert_many
INSERT INTO activity (kind, project_id, from_lane, to_lane, commit, action, actor, who, summary,
                      title, detail, at)
SELECT * FROM unnest(%(kind)s::text[], %(project_id)s::text[], %(from_lane)s::text[],
                     %(to_lane)s::text[], %(commit)s::text[], %(action)s::text[],
                     %(actor)s::text[], %(who)s::text[], %(summary)s::text[],
                     %(title)s::text[], %(detail)s::text[], %(at)s::timestamptz[])
RETURNING id;

-- name: activity_insert
-- One event outside a sync (a comment, a budget hold): the project's current title names it.
INSERT INTO activity (kind, project_id, from_lane, to_lane, commit, action, actor, who, summary,
                      title, at)
VALUES (%(kind)s, %(project_id)s, %(from_lane)s, %(to_lane)s, %(commit)s, %(action)s, %(actor)s,
        %(who)s, %(summary)s, (SELECT title FROM projects WHERE id = %(project_id)s), %(at)s)
RETURNING id;

-- name: violation_insert
INSERT INTO violations (commit, project_id, path, message, actor, at)
VALUES (%(commit)s, %(project_id)s, %(path)s, %(message)s, %(actor)s, %(at)s)
ON CONFLICT DO NOTHING;

-- name: uncommitted_all
SELECT path, project_id, status FROM uncommitted ORDER BY path;

-- name: uncommitted_clear
DELETE FROM uncommitted;

-- name: uncommitted_insert
INSERT INTO uncommitted (path, project_id, status) VALUES (%(path)s, %(project_id)s, %(status)s);

-- name: rebuild_truncate
TRUNCATE projects, violations RESTART IDENTITY;

-- name: activity_truncate
-- Activity ids keep counting up across a rebuild: they are the live feed's event ids
-- (a client's Last-Event-ID below the new floor gets a reload, not a replay).
TRUNCATE activity;

-- name: activity_restore_comments
-- Comments live only in the database: their feed entries come back after a rebuild.
INSERT INTO activity (kind, project_id, action, actor, who, summary, title, at)
SELECT 'comment', c.project_id, 'comment', c.role, c.author, left(c.text, 2000), p.title, c.at
FROM comments c LEFT JOIN projects p ON p.id = c.project_id ORDER BY c.id;

-- name: activity_floor
SELECT coalesce(min(id), 0) AS id FROM activity;

-- name: activity_bounds
SELECT coalesce(max(id), 0) AS top,
       coalesce((SELECT value::bigint FROM mc_meta WHERE key = 'activity_floor'), 0) AS floor
FROM activity;

-- name: project_get
SELECT * FROM projects WHERE id = %(id)s;

-- name: projects_all
SELECT * FROM projects ORDER BY id;

-- name: lane_counts
SELECT lane, count(*) AS n FROM projects GROUP BY lane;

-- name: projects_invalid
SELECT id, lane, error, error_path, error_line, error_col, attempted_commit
FROM projects WHERE error IS NOT NULL ORDER BY id;

-- name: violations_recent
SELECT id, commit, project_id, path, message, actor, at FROM violations
ORDER BY id DESC LIMIT %(limit)s;

-- name: activity_recent
SELECT * FROM activity WHERE (%(project)s::text IS NULL OR project_id = %(project)s)
  AND (%(before)s::bigint IS NULL OR id < %(before)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: daemons
SELECT pid, application_name, backend_start, client_addr FROM pg_stat_activity
WHERE application_name LIKE 'mc daemon%%' AND datname = current_database();

-- Tasks -------------------------------------------------------------------------

-- name: task_insert
INSERT INTO tasks (title, notes, due_date, due_at, priority, tags, project_id)
VALUES (%(title)s, %(notes)s, %(due_date)s, %(due_at)s, %(priority)s, %(tags)s, %(project_id)s)
RETURNING *;

-- name: task_get
SELECT * FROM tasks WHERE id = %(id)s;

-- name: task_list
SELECT * FROM tasks
WHERE (%(project)s::text IS NULL OR project_id = %(project)s)
  AND (%(include_done)s OR done_at IS NULL)
ORDER BY done_at IS NOT NULL, coalesce(due_at, due_date::timestamp AT TIME ZONE %(tz)s) NULLS LAST,
         priority NULLS LAST, id;

-- name: task_lock
SELECT id FROM tasks WHERE id = %(id)s FOR UPDATE;

-- name: task_delete
DELETE FROM tasks WHERE id = %(id)s RETURNING *;

-- name: task_update
UPDATE tasks SET title = %(title)s, notes = %(notes)s, due_date = %(due_date)s,
                 due_at = %(due_at)s, priority = %(priority)s, tags = %(tags)s,
                 project_id = %(project_id)s, done_at = %(done_at)s, updated_at = now()
WHERE id = %(id)s
RETURNING *;

-- name: project_exists
SELECT 1 AS found FROM projects WHERE id = %(id)s;

-- Jobs ---------------------------------------------------------------------------
-- Every write a worker makes names the lease token it claimed with (fencing).

-- name: job_enqueue
INSERT INTO jobs (project_id, kind, archetype, priority, round, max_attempts, notes, run_after)
VALUES (%(project_id)s, %(kind)s, %(archetype)s, %(priority)s, %(round)s, %(max_attempts)s,
        %(notes)s, now())
ON CONFLICT (project_id) WHERE state IN ('queued', 'running') DO NOTHING
RETURNING *;

-- name: job_claim
WITH next AS (
    SELECT id FROM jobs
    WHERE state = 'queued' AND run_after <= now()
      AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s))
    ORDER BY priority, run_after, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET state = 'running', lease_token = j.lease_token + 1, worker = %(worker)s,
                  lease_until = now() + make_interval(secs => %(lease)s),
                  awaiting_report = false,
                  started_at = coalesce(j.started_at, now())
FROM next WHERE j.id = next.id
RETURNING j.*;

-- name: job_heartbeat
UPDATE jobs SET lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING cancel_requested;

-- name: job_succeed
UPDATE jobs SET state = 'succeeded', finished_at = now(), lease_until = NULL,
                attempts = attempts + 1, result = %(result)s, last_error = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING *;

-- name: job_fail
-- A failed run: back to the queue after a backoff with jitter, or dead when its
-- attempts are spent (a permanent failure: at once). A temporary failure (exit 75)
-- does not spend an attempt; too many of them in a row (tempfail_cap) are dead too.
UPDATE jobs SET
    attempts = attempts + (NOT %(temporary)s)::int,
    tempfails = tempfails + (%(temporary)s)::int,
    state = CASE WHEN %(permanent)s OR (NOT %(temporary)s AND attempts + 1 >= max_attempts)
                      OR (%(temporary)s AND tempfails + 1 >= %(tempfail_cap)s)
                 THEN 'dead' ELSE 'queued' END,
    finished_at = CASE WHEN %(permanent)s OR (NOT %(temporary)s AND attempts + 1 >= max_attempts)
                            OR (%(temporary)s AND tempfails + 1 >= %(tempfail_cap)s)
                       THEN now() END,
    run_after = now() + make_interval(secs => least(%(cap)s, %(base)s * power(2, attempts + tempfails))
                                             * (0.5 + random() / 2)),
    lease_until = NULL, worker = NULL, last_error = %(error)s
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING *;

-- name: job_hand_back
-- A worker shutting down gives its job back without spending an attempt.
UPDATE jobs SET state = 'queued', lease_until = NULL, worker = NULL, run_after = now()
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING *;

-- name: job_cancelled
UPDATE jobs SET state = 'cancelled', finished_at = now(), lease_until = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING *;

-- name: job_reclaim
-- Leases that ran out (a worker killed or paused): the job runs again, or is dead.
UPDATE jobs SET
    attempts = attempts + 1,
    state = CASE WHEN attempts + 1 >= max_attempts THEN 'dead' ELSE 'queued' END,
    finished_at = CASE WHEN attempts + 1 >= max_attempts THEN now() END,
    run_after = now(), lease_until = NULL, worker = NULL,
    last_error = 'the worker stopped renewing its lease (killed or paused)'
WHERE state = 'running' AND lease_until < now()
RETURNING *;

-- name: job_cancel
-- Cancel: a queued job ends at once; a running one is told through its heartbeat
-- (and a NOTIFY) and its worker kills the agent's process tree.
UPDATE jobs SET cancel_requested = true,
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
WHERE id = %(id)s AND state IN ('queued', 'running')
RETURNING *;

-- name: job_retry
-- A person asks for another go at a dead or cancelled job: a new attempt budget.
UPDATE jobs SET state = 'queued', attempts = 0, tempfails = 0, run_after = now(),
                cancel_requested = false, finished_at = NULL, last_error = NULL
WHERE id = %(id)s AND state IN ('dead', 'cancelled')
RETURNING *;

-- name: job_get
SELECT * FROM jobs WHERE id = %(id)s;

-- name: job_active_for_project
SELECT * FROM jobs WHERE project_id = %(project_id)s AND state IN ('queued', 'running');

-- name: job_list
SELECT * FROM jobs
WHERE (%(project)s::text IS NULL OR project_id = %(project)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
ORDER BY id DESC LIMIT %(limit)s;

-- name: job_count
SELECT count(*) AS n FROM jobs
WHERE (%(project)s::text IS NULL OR project_id = %(project)s)
  AND (%(state)s::text IS NULL OR state = %(state)s);

-- name: job_next_due
SELECT min(run_after) AS at FROM jobs WHERE state = 'queued';

-- name: job_log_append
INSERT INTO job_log (job_id, attempt, stream, text, shown)
VALUES (%(job_id)s, %(attempt)s, %(stream)s, %(text)s, %(shown)s);

-- name: job_log_read
SELECT id, attempt, stream, text, shown, at FROM job_log
WHERE job_id = %(job_id)s AND id > %(after)s ORDER BY id LIMIT %(limit)s;

-- name: job_set_last_step
UPDATE jobs SET last_step = %(step)s WHERE id = %(id)s;

-- name: job_add_usage
-- One run's tokens and cost, added to its job (only by the worker that ran it).
UPDATE jobs SET
    model = coalesce(%(model)s, model),
    input_tokens = input_tokens + %(input)s,
    output_tokens = output_tokens + %(output)s,
    cached_tokens = cached_tokens + %(cached)s,
    cost_usd = CASE WHEN %(cost)s::numeric IS NULL THEN cost_usd
                    ELSE coalesce(cost_usd, 0) + %(cost)s::numeric END,
    cost_at = CASE WHEN %(cost)s::numeric IS NULL THEN cost_at ELSE now() END
WHERE id = %(id)s AND lease_token = %(token)s;

-- name: spend_since
-- What agents cost since a moment (the start of today), per archetype.
SELECT archetype, sum(cost_usd) AS usd FROM jobs
WHERE cost_at >= %(since)s AND cost_usd IS NOT NULL GROUP BY archetype;

-- name: spend_by
-- Cost and tokens per day, archetype and model, since a moment (the metrics page).
SELECT date_trunc('day', cost_at AT TIME ZONE %(tz)s) AS day, archetype, model,
       sum(cost_usd) AS usd, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cached_tokens) AS cached_tokens, count(*) AS jobs
FROM jobs WHERE cost_at >= %(since)s
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- name: project_spend
SELECT coalesce(sum(cost_usd), 0) AS usd, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cached_tokens) AS cached_tokens,
       bool_or(cost_usd IS NOT NULL) AS costed
FROM jobs WHERE project_id = %(project)s;

-- name: job_lock_fenced
-- Hold a job's row for the transaction that records its result (the git commit
-- included), only while this worker's lease token is the job's.
SELECT id FROM jobs WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
FOR UPDATE;

-- name: job_set_result
-- Only under job_lock_fenced (jobs.Fence).
UPDATE jobs SET result = %(result)s WHERE id = %(id)s;

-- name: job_report
-- The outcome of a handoff job, from whoever did the work.
UPDATE jobs SET reported = %(reported)s
WHERE id = %(id)s AND state = 'running' AND awaiting_report AND reported IS NULL
RETURNING *;

-- name: job_await_report
UPDATE jobs SET awaiting_report = true
WHERE id = %(id)s AND lease_token = %(token)s AND state = 'running'
RETURNING id;

-- name: dispatch_candidates
-- Projects waiting in up-next without an active job: highest priority, then oldest.
SELECT p.id, p.archetype, p.priority FROM projects p
WHERE p.lane = 'up-next' AND p.error IS NULL AND p.flagged IS NULL
  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.project_id = p.id
                  AND j.state IN ('queued', 'running'))
ORDER BY coalesce(p.priority, 3), p.lane_since, p.id;

-- name: jobs_active_by_archetype
SELECT archetype, count(*) AS n FROM jobs
WHERE state IN ('queued', 'running') AND kind = 'work' GROUP BY archetype;

-- name: projects_in_lane
SELECT id FROM projects WHERE lane = %(lane)s;

-- name: jobs_cancel_parked
-- A project moved back to the backlog (cancelled or parked) loses its active job.
UPDATE jobs SET cancel_requested = true,
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END
WHERE state IN ('queued', 'running') AND NOT cancel_requested
  AND (project_id IN (SELECT id FROM projects WHERE lane = 'backlog')
       OR project_id NOT IN (SELECT id FROM projects))
RETURNING id;

-- The web board -----------------------------------------------------------------

-- name: token_insert
INSERT INTO tokens (kind, name, role, digest, expires_at, scope)
VALUES (%(kind)s, %(name)s, %(role)s, %(digest)s, %(expires_at)s, %(scope)s)
RETURNING id, kind, name, role, created_at, expires_at, last_used_at, revoked_at, scope;

-- name: token_lookup
SELECT id, kind, name, role, scope, last_used_at < now() - interval '1 minute' AS stale
FROM tokens
WHERE digest = %(digest)s AND kind = ANY(%(kinds)s) AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > now());

-- name: token_touch
UPDATE tokens SET last_used_at = now() WHERE id = %(id)s;

-- name: token_consume
UPDATE tokens SET revoked_at = now(), last_used_at = now()
WHERE digest = %(digest)s AND kind = 'login' AND revoked_at IS NULL AND expires_at > now()
RETURNING id, name, role;

-- name: session_end
UPDATE tokens SET revoked_at = now() WHERE digest = %(digest)s AND kind = 'session'
  AND revoked_at IS NULL;

-- name: sessions_end_all
UPDATE tokens SET revoked_at = now() WHERE kind IN ('session', 'login') AND revoked_at IS NULL;

-- name: token_list
SELECT id, kind, name, role, scope, created_at, expires_at, last_used_at, revoked_at FROM tokens
WHERE kind = 'api' AND (%(all)s OR revoked_at IS NULL) ORDER BY id;

-- name: token_revoke
UPDATE tokens SET revoked_at = now()
WHERE kind = 'api' AND revoked_at IS NULL AND (name = %(name)s OR id::text = %(name)s)
RETURNING id, name;

-- name: board_cards
SELECT p.id, p.lane, p.title, p.archetype, p.model, p.priority, p.owner, p.due_date, p.due_at,
       p.labels, p.ready_for_human, p.needs_human, p.data -> 'needs_human' ->> 'reason' AS needs_reason,
       p.data -> 'review' AS review, p.error, p.flagged, p.flagged_commit, p.applied_blob,
       p.created_at, p.lane_since,
       j.id AS job_id, j.kind AS job_kind, j.state AS job_state, j.attempts AS job_attempts,
       j.max_attempts AS job_max_attempts, j.started_at AS job_started_at,
       j.last_error AS job_last_error, j.last_step AS job_last_step
FROM projects p
LEFT JOIN (SELECT DISTINCT ON (project_id) * FROM jobs ORDER BY project_id, id DESC) j
  ON j.project_id = p.id
ORDER BY p.priority NULLS LAST, p.lane_since, p.id;

-- name: board_card
SELECT p.*, p.data -> 'needs_human' ->> 'reason' AS needs_reason, p.data -> 'review' AS review,
       j.id AS job_id, j.kind AS job_kind, j.state AS job_state, j.attempts AS job_attempts,
       j.max_attempts AS job_max_attempts, j.started_at AS job_started_at,
       j.last_error AS job_last_error, j.last_step AS job_last_step
FROM projects p
LEFT JOIN LATERAL (SELECT * FROM jobs WHERE jobs.project_id = p.id ORDER BY id DESC LIMIT 1) j
  ON true
WHERE p.id = %(id)s;

-- name: comment_insert
INSERT INTO comments (project_id, author, role, text) VALUES (%(project_id)s, %(author)s, %(role)s, %(text)s)
RETURNING *;

-- name: comment_list
SELECT * FROM comments WHERE project_id = %(project_id)s ORDER BY id;

-- name: activity_since
SELECT * FROM activity WHERE id > %(after)s ORDER BY id LIMIT %(limit)s;

-- name: activity_by_ids
SELECT * FROM activity WHERE id = ANY(%(ids)s) ORDER BY id;

-- name: activity_max
SELECT coalesce(max(id), 0) AS id FROM activity;

-- name: calendar_projects
SELECT id, title, lane, due_date, due_at FROM projects
WHERE coalesce(due_date, (due_at AT TIME ZONE %(tz)s)::date) BETWEEN %(first)s AND %(last)s;

-- name: calendar_tasks
SELECT * FROM tasks
WHERE coalesce(due_date, (due_at AT TIME ZONE %(tz)s)::date) BETWEEN %(first)s AND %(last)s
ORDER BY id;

-- name: metrics_lane_moves
SELECT project_id, from_lane, to_lane, at FROM activity
WHERE kind IN ('create', 'move', 'approve', 'delete')
ORDER BY at, id;

-- name: metrics_jobs
SELECT state, count(*) AS n, sum(greatest(attempts - 1, 0)) AS retries,
       count(*) FILTER (WHERE attempts > 1) AS retried
FROM jobs GROUP BY state;

-- name: metrics_run_seconds
SELECT extract(epoch FROM finished_at - started_at)::float8 AS s FROM jobs
WHERE state = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY id DESC LIMIT 1000;

-- name: projects_flagged
-- Projects whose git file the rules refused: the accepted version the CLI shows instead.
SELECT id, lane, applied_blob, flagged, flagged_commit FROM projects WHERE flagged IS NOT NULL;

-- name: jobs_waiting_handoff
-- Hand-off jobs announced and not reported yet: work for the person's assistant.
SELECT * FROM jobs WHERE state = 'running' AND awaiting_report AND reported IS NULL
ORDER BY id;

-- name: outbox_insert
-- The title is the project's, as the mirror has it, unless the caller gives one.
INSERT INTO outbox (kind, project_id, job_id, title, detail)
VALUES (%(kind)s, %(project_id)s, %(job_id)s,
        coalesce(%(title)s::text, (SELECT title FROM projects WHERE id = %(project_id)s),
                 %(project_id)s::text, ''),
        %(detail)s)
RETURNING id;

-- name: outbox_work
-- Whether the sender has anything to do: new events, or deliveries due now.
SELECT EXISTS (SELECT 1 FROM outbox WHERE NOT expanded) AS new,
       EXISTS (SELECT 1 FROM deliveries WHERE state = 'pending' AND next_at <= clock_timestamp()
               AND (claimed_until IS NULL OR claimed_until < clock_timestamp())) AS due;

-- name: outbox_unexpanded
-- Events whose deliveries are not made yet (one sender takes them at a time).
SELECT * FROM outbox WHERE NOT expanded ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED;

-- name: outbox_expanded
UPDATE outbox SET expanded = true WHERE id = ANY(%(ids)s);

-- name: delivery_insert
INSERT INTO deliveries (outbox_id, target, label) VALUES (%(outbox_id)s, %(target)s, %(label)s)
ON CONFLICT DO NOTHING;

-- name: deliveries_claim
-- Due deliveries, held for a while by this sender (a sender that dies lets them go).
-- clock_timestamp(), not now(): the moment of asking, whatever the transaction.
UPDATE deliveries d SET claimed_until = clock_timestamp() + make_interval(secs => %(hold)s)
FROM outbox o
WHERE o.id = d.outbox_id AND (d.outbox_id, d.target) IN (
    SELECT outbox_id, target FROM deliveries
    WHERE state = 'pending' AND next_at <= clock_timestamp()
      AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
    ORDER BY next_at, outbox_id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING d.outbox_id, d.target, d.label, d.attempts, o.kind, o.project_id, o.job_id,
          o.title, o.detail, o.created_at;

-- name: delivery_sent
UPDATE deliveries SET state = 'sent', sent_at = clock_timestamp(), attempts = attempts + 1,
                      claimed_until = NULL, last_error = NULL
WHERE outbox_id = %(outbox_id)s AND target = %(target)s AND state = 'pending';

-- name: delivery_failed
UPDATE deliveries SET attempts = attempts + 1, last_error = %(error)s, claimed_until = NULL,
                      next_at = clock_timestamp() + make_interval(secs => %(delay)s),
                      state = CASE WHEN %(dead)s THEN 'dead' ELSE 'pending' END
WHERE outbox_id = %(outbox_id)s AND target = %(target)s AND state = 'pending';

-- name: deliveries_next_due
SELECT min(next_at) AS at FROM deliveries WHERE state = 'pending';

-- name: deliveries_undeliverable
-- What could not be delivered (dead) or keeps failing (3 attempts or more): for mc
-- status and the page.
SELECT d.label, d.state, d.attempts, d.last_error, o.kind, o.project_id, o.created_at
FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
WHERE d.state = 'dead' OR (d.state = 'pending' AND d.attempts >= 3)
ORDER BY o.id DESC LIMIT 20;

-- name: diff_comment_insert
INSERT INTO diff_comments (project_id, path, side, start_line, end_line, quote, commit, author, role, text)
VALUES (%(project_id)s, %(path)s, %(side)s, %(start_line)s, %(end_line)s, %(quote)s, %(commit)s,
        %(author)s, %(role)s, %(text)s)
RETURNING *;

-- name: diff_comment_list
SELECT * FROM diff_comments WHERE project_id = %(project_id)s ORDER BY id;

-- name: diff_comment_resolve
UPDATE diff_comments SET resolved_at = now(), resolved_by = %(by)s, resolved_on = %(on)s
WHERE id = %(id)s AND project_id = %(project_id)s AND resolved_at IS NULL
RETURNING *;

-- name: diff_comment_get
SELECT * FROM diff_comments WHERE id = %(id)s AND project_id = %(project_id)s;

-- name: diff_comment_delete
DELETE FROM diff_comments WHERE id = %(id)s AND project_id = %(project_id)s AND author = %(author)s
RETURNING id;

-- name: board_cards_by_ids
SELECT p.id, p.lane, p.title, p.archetype, p.model, p.priority, p.owner, p.due_date, p.due_at,
       p.labels, p.ready_for_human, p.needs_human, p.data -> 'needs_human' ->> 'reason' AS needs_reason,
       p.data -> 'review' AS review, p.error, p.flagged, p.flagged_commit, p.applied_blob,
       p.created_at, p.lane_since,
       j.id AS job_id, j.kind AS job_kind, j.state AS job_state, j.attempts AS job_attempts,
       j.max_attempts AS job_max_attempts, j.started_at AS job_started_at,
       j.last_error AS job_last_error, j.last_step AS job_last_step
FROM projects p
LEFT JOIN LATERAL (SELECT * FROM jobs WHERE jobs.project_id = p.id ORDER BY id DESC LIMIT 1) j
  ON true
WHERE p.id = ANY(%(ids)s);
