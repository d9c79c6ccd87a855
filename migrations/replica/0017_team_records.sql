-- Replica, version 17: team records (maintenance batches, saved target lists, schedules) and
-- the batch a session works.
--
-- A record holds its latest body (NULL once deleted). A change made here is written at once
-- and queued in the outbox; `team_seq` is the server's number of the body held (NULL until the
-- server has sent it), so a pulled body never overwrites a change still queued here.
CREATE TABLE team_records (
    kind       TEXT    NOT NULL CHECK (kind IN ('batch', 'target_list', 'schedule')),
    id         TEXT    NOT NULL,
    body       TEXT,
    author_id  TEXT,
    team_seq   INTEGER,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Id-prefix lookups (`rf batch show 0193`) go through these, like the other tables' `id`.
CREATE VIEW batches AS SELECT id, body FROM team_records WHERE kind = 'batch' AND body IS NOT NULL;
CREATE VIEW schedules AS SELECT id, body FROM team_records WHERE kind = 'schedule' AND body IS NOT NULL;

-- A batch session's batch and target, from its `started` event (sessions before this version
-- have none: no client wrote the link before).
ALTER TABLE sessions ADD COLUMN batch_id TEXT;
ALTER TABLE sessions ADD COLUMN target TEXT;
CREATE INDEX sessions_by_batch ON sessions (batch_id, target) WHERE batch_id IS NOT NULL;
