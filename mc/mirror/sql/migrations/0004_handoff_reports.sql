-- Only a job that is waiting for a report (a hand-off job, announced by its worker)
-- may be reported on: nobody can complete a spawned agent's job from outside.
ALTER TABLE jobs ADD COLUMN awaiting_report boolean NOT NULL DEFAULT false;
