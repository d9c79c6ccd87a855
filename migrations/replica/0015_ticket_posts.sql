-- Replica schema, version 15: notes to post to ConnectWise tickets.
--
-- A post is queued here with the key the sync server stores it under (chosen now, kept until
-- it is settled), so it is posted exactly once whenever it is delivered: offline, it waits;
-- sent again after a lost answer, or from a copy of this replica, the server answers the
-- outcome it stored. The text is what the engineer saw in the preview. Local to this device.
CREATE TABLE ticket_posts (
    post_key        TEXT    PRIMARY KEY NOT NULL,
    session_id      TEXT    NOT NULL REFERENCES sessions (id),
    ticket_id       INTEGER NOT NULL CHECK (ticket_id > 0),
    -- internal, discussion, resolution: at least one, comma-separated.
    flags           TEXT    NOT NULL CHECK (flags <> ''),
    status          TEXT,
    text            TEXT    NOT NULL,
    redacted        INTEGER NOT NULL,
    queued_at       TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'posted', 'failed')),
    note_id         INTEGER,
    posted_at       TEXT,
    status_set      TEXT,
    -- failed: why; queued: what stopped the last attempt; posted: why the status was not set.
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT
);
CREATE INDEX ticket_posts_by_session ON ticket_posts (session_id, queued_at);
