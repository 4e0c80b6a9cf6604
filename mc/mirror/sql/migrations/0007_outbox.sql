-- Notifications: events are written here in the same transaction as the change that
-- causes them; a sender delivers each to every configured target, once.
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
