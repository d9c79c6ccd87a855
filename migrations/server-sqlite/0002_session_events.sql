-- Sync server (SQLite back end), version 2: devices, sessions and their events, and the per-team
-- change sequence that readers page by.

-- Every accepted change of a team takes the next number of its sequence in the same transaction.
CREATE TABLE team_sequences (
    team_id TEXT PRIMARY KEY REFERENCES teams (id),
    seq     INTEGER NOT NULL
);

-- A device (a replica's client id) belongs to the user who first pushed from it.
CREATE TABLE devices (
    device_id         TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    -- Highest per-client mutation number applied (mutations arrive with flow sync).
    last_mutation_id  INTEGER NOT NULL DEFAULT 0,
    -- Every event of this device up to here is stored.
    acked_event_seq   INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
);

-- A session belongs to the engineer whose device first sent it.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL
);

-- Each event once, whoever retries: (device_id, device_seq) is its identity.
CREATE TABLE session_events (
    device_id   TEXT    NOT NULL REFERENCES devices (device_id),
    device_seq  INTEGER NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES sessions (session_id),
    session_seq INTEGER NOT NULL,
    team_id     TEXT    NOT NULL REFERENCES teams (id),
    team_seq    INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);
CREATE UNIQUE INDEX session_events_by_team_seq ON session_events (team_id, team_seq);
