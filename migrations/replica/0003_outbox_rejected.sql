-- Mutations the sync server permanently refused, moved out of the outbox (so the queue never
-- wedges) but kept, with the server's reason, for the engineer to see and act on.
CREATE TABLE outbox_rejected (
    mutation_id  INTEGER PRIMARY KEY,
    entity       TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    base_version INTEGER,
    payload      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    rejected_at  TEXT    NOT NULL
);
