-- Sync server (sqlite back end), version 13: team records, the small documents a team shares
-- besides flows and sessions (maintenance batches, saved target lists, schedules). One row per
-- record with its latest body (NULL once deleted) under the team number of its last change, so
-- pull pages carry it in order like every other change. The same shape as the other back
-- end's 0013_team_records.sql.
CREATE TABLE team_records (
    team_id    TEXT    NOT NULL REFERENCES teams (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('batch', 'target_list', 'schedule')),
    record_id  TEXT    NOT NULL,
    body       TEXT,
    author_id  TEXT    NOT NULL REFERENCES users (id),
    updated_at INTEGER NOT NULL,
    team_seq   INTEGER NOT NULL,
    PRIMARY KEY (team_id, kind, record_id)
);
CREATE UNIQUE INDEX team_records_by_team_seq ON team_records (team_id, team_seq);
