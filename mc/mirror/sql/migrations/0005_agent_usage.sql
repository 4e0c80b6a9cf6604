-- What each job's runs cost, as the agent CLI reported them (summed over its attempts),
-- the model it ran, and its latest step in words (a card shows it).
ALTER TABLE jobs ADD COLUMN model text;
ALTER TABLE jobs ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cached_tokens bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cost_usd numeric(14, 6);
ALTER TABLE jobs ADD COLUMN last_step text;
ALTER TABLE jobs ADD COLUMN cost_at timestamptz;  -- when its last cost was added
-- A log line as a person reads it (an event of the CLI's stream, in words); NULL: the
-- line as printed is already that.
ALTER TABLE job_log ADD COLUMN shown text;
-- Spend per day is summed from here.
CREATE INDEX jobs_cost_at ON jobs (cost_at) WHERE cost_at IS NOT NULL;
