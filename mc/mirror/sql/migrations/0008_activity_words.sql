-- The activity in words (mc/mirror/words.py): the project's title and a detail (review
-- notes, the reason it needs a person, the archetype dispatched) as they were when it
-- happened. Rows from before keep NULL/'' and name the project by its id.
ALTER TABLE activity ADD COLUMN title text;
ALTER TABLE activity ADD COLUMN detail text NOT NULL DEFAULT '';
