-- ResolutionFlow replica schema, version 1: flows with immutable versions, sessions with
-- per-device numbered event logs, the outbox, pins and attachments.
-- Append-only: never edit this file once shipped; add a new numbered migration instead.

CREATE TABLE device (
    singleton        INTEGER PRIMARY KEY CHECK (singleton = 1),
    device_id        TEXT    NOT NULL,
    -- Last device sequence number handed to a session event (0 = none yet).
    last_event_seq   INTEGER NOT NULL DEFAULT 0,
    -- Highest device sequence number the sync server has acknowledged.
    pushed_event_seq INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL
);

CREATE TABLE flows (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('troubleshooting', 'procedural', 'maintenance')),
    title          TEXT    NOT NULL,
    category       TEXT,
    tags           TEXT    NOT NULL DEFAULT '[]',
    status         TEXT    NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published', 'archived')),
    latest_version INTEGER NOT NULL,
    origin_flow_id TEXT,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE flow_versions (
    flow_id      TEXT    NOT NULL REFERENCES flows (id),
    version      INTEGER NOT NULL CHECK (version >= 1),
    document     TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    node_count   INTEGER NOT NULL,
    source       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (flow_id, version)
);
CREATE INDEX flow_versions_by_hash ON flow_versions (content_hash);

-- A session points at one version, so versions must never change or disappear.
CREATE TRIGGER flow_versions_are_immutable BEFORE UPDATE ON flow_versions
BEGIN
    SELECT RAISE(ABORT, 'flow versions are immutable; import a new version instead');
END;
CREATE TRIGGER flow_versions_are_kept BEFORE DELETE ON flow_versions
BEGIN
    SELECT RAISE(ABORT, 'flow versions are kept for the sessions that used them');
END;

-- One row per session: a projection of its event log, rewritten in the transaction that
-- appends events, for listing and filtering without replaying every log.
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    flow_id      TEXT    NOT NULL,
    flow_version INTEGER NOT NULL,
    flow_title   TEXT    NOT NULL,
    ticket       TEXT    NOT NULL,
    client       TEXT    NOT NULL,
    engineer     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'finished')),
    outcome      TEXT,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,
    updated_at   TEXT    NOT NULL,
    event_count  INTEGER NOT NULL,
    FOREIGN KEY (flow_id, flow_version) REFERENCES flow_versions (flow_id, version)
);
CREATE INDEX sessions_by_flow ON sessions (flow_id, status);
CREATE INDEX sessions_by_start ON sessions (started_at);

-- The append-only log. (device_id, device_seq) is the event's identity everywhere, so a
-- retried upload is stored once; session_seq orders the events within their session.
CREATE TABLE session_events (
    device_id   TEXT    NOT NULL,
    device_seq  INTEGER NOT NULL,
    session_id  TEXT    NOT NULL REFERENCES sessions (id),
    session_seq INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    PRIMARY KEY (device_id, device_seq),
    UNIQUE (session_id, session_seq)
);
CREATE TRIGGER session_events_are_append_only BEFORE UPDATE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'session events are append-only');
END;

-- Mutations waiting for the sync server. mutation_id is the per-client mutation number;
-- AUTOINCREMENT guarantees a number is never reused after acknowledged rows are deleted.
CREATE TABLE outbox (
    mutation_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    entity       TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    base_version INTEGER,
    payload      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL
);

CREATE TABLE pins (
    flow_id   TEXT    PRIMARY KEY REFERENCES flows (id),
    position  INTEGER NOT NULL,
    pinned_at TEXT    NOT NULL
);

-- Content-addressed attachment files under <data dir>/attachments; the row is written in the
-- same transaction as the event that references the file.
CREATE TABLE attachments (
    sha256     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    media_type TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
