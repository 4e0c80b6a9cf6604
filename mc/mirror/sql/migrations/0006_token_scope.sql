-- An agent token may be bound to one job ("job:12") or one project ("project:x"): only
-- such a token may report that hand-off job, and a worker issues one per hand-off.
ALTER TABLE tokens ADD COLUMN scope text;
