-- Replica schema, version 13: note drafts.
--
-- The note an engineer is typing at a session's current step, saved as they type (debounced)
-- so nothing typed is lost if the app is killed, but not part of the session's record until
-- they act at the step: then it becomes a note event in the same transaction and is deleted.
-- Local to this device: drafts never sync.
CREATE TABLE note_drafts (
    session_id TEXT PRIMARY KEY NOT NULL,
    -- The step the draft was typed at: its node id and the session's path length then, so a
    -- draft outlived by its step (the session moved on elsewhere) is recorded as such.
    step TEXT NOT NULL,
    -- The step's title, to say where a draft was typed when it is recorded at another step.
    step_title TEXT NOT NULL,
    text TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
