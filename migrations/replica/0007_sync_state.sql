-- What this replica knows of its sync server, the team's conflicts, and session events from
-- other devices that arrived before the events they follow.

-- The server this replica syncs with (one), and how far it has read the team's changes.
CREATE TABLE sync_state (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    server_url   TEXT    NOT NULL,
    team_id      TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    -- Every team change up to this sequence number is applied here.
    pulled_seq   INTEGER NOT NULL DEFAULT 0,
    last_sync_at TEXT,
    last_error   TEXT
);

-- The team's recorded conflicts, as the server last described them.
CREATE TABLE conflicts (
    id            TEXT    PRIMARY KEY,
    flow_id       TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    base          TEXT,
    kept          TEXT,
    other         TEXT,
    kept_version  TEXT    NOT NULL,
    other_version TEXT    NOT NULL,
    raised_by     TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    resolution    TEXT CHECK (resolution IN ('mine', 'theirs')),
    team_seq      INTEGER NOT NULL
);

-- Events of other devices whose session is not complete up to them yet (the server may store a
-- device's events out of order). They move to session_events, in order, once nothing is missing.
CREATE TABLE pulled_events (
    device_id   TEXT    NOT NULL,
    device_seq  INTEGER NOT NULL,
    session_id  TEXT    NOT NULL,
    session_seq INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);
CREATE INDEX pulled_events_by_session ON pulled_events (session_id, session_seq);

-- The team's head of each flow (a version id) and the team sequence number it was read at: only
-- ever replaced by a newer one, from a pull page or a push answer. A flow with nothing of its
-- own queued follows it.
ALTER TABLE flows ADD COLUMN team_head TEXT;
ALTER TABLE flows ADD COLUMN team_head_seq INTEGER NOT NULL DEFAULT 0;

-- Highest outbox mutation number ever handed to a push. A server may report mutations settled
-- beyond the batch it answers (an earlier push whose answer was lost), never beyond this.
ALTER TABLE device ADD COLUMN sent_mutation_id INTEGER NOT NULL DEFAULT 0;
