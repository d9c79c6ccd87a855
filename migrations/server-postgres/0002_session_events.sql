-- Sync server (PostgreSQL back end), version 2: devices, sessions and their events, and the
-- per-team change sequence. The same shape as migrations/server-sqlite/0002_session_events.sql.
-- The sequence row is updated inside each writing transaction, so its row lock orders a team's
-- writers until commit and readers paging by team_seq never skip a late commit.

CREATE TABLE team_sequences (
    team_id TEXT PRIMARY KEY REFERENCES teams (id),
    seq     BIGINT NOT NULL
);

CREATE TABLE devices (
    device_id        TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    last_mutation_id BIGINT NOT NULL DEFAULT 0,
    acked_event_seq  BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);

CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE session_events (
    device_id   TEXT   NOT NULL REFERENCES devices (device_id),
    device_seq  BIGINT NOT NULL,
    session_id  TEXT   NOT NULL REFERENCES sessions (session_id),
    session_seq BIGINT NOT NULL,
    team_id     TEXT   NOT NULL REFERENCES teams (id),
    team_seq    BIGINT NOT NULL,
    payload     TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);
CREATE UNIQUE INDEX session_events_by_team_seq ON session_events (team_id, team_seq);
