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
