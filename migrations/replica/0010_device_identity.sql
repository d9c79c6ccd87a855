-- Replica schema, version 10: a device identity that is never shared silently, and a server
-- restored from a backup noticed.
--
-- A replica restored from an older backup, or its data copied to a second machine, would reuse
-- its device id and numbers for new work. When the sync server (or a pull) shows that another
-- copy used them, this replica takes a new device id and numbers its unsent work again under
-- it (identity::take_new_identity). Numbers of the old identity stay in the kept records, so
-- those records now name their device id.

-- Identities this replica used before its current one, and why it left each.
CREATE TABLE retired_devices (
    device_id      TEXT    PRIMARY KEY,
    last_event_seq INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    retired_at     TEXT    NOT NULL
);

-- The login stays under the keyring account of the replica's first identity.
ALTER TABLE device ADD COLUMN token_account TEXT;
UPDATE device SET token_account = device_id;

-- The sync server store's epoch as last seen: a change means the server was restored from a
-- backup (its changes since are lost), so this replica pulls everything again and sends again
-- what it holds (Replica::server_was_restored).
ALTER TABLE sync_state ADD COLUMN server_epoch TEXT;

-- Sessions continued on two copies of one replica: this copy's continuation became a session
-- of its own (the same start, then this copy's steps), so neither copy's work is lost.
CREATE TABLE session_forks (
    session_id  TEXT    PRIMARY KEY REFERENCES sessions (id),
    forked_from TEXT    NOT NULL,
    forked_at   TEXT    NOT NULL
);

-- A number can come back (a server restored from an older backup settles the queue again
-- after its last number), so a refusal is its own row.
CREATE TABLE outbox_rejected_v10 (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    TEXT    NOT NULL,
    mutation_id  INTEGER NOT NULL,
    entity       TEXT    NOT NULL,
    entity_id    TEXT    NOT NULL,
    operation    TEXT    NOT NULL,
    base_version INTEGER,
    payload      TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    rejected_at  TEXT    NOT NULL
);
INSERT INTO outbox_rejected_v10 (device_id, mutation_id, entity, entity_id, operation,
                                 base_version, payload, created_at, reason, rejected_at)
SELECT (SELECT device_id FROM device), mutation_id, entity, entity_id, operation, base_version,
       payload, created_at, reason, rejected_at
FROM outbox_rejected ORDER BY mutation_id;
DROP TABLE outbox_rejected;
ALTER TABLE outbox_rejected_v10 RENAME TO outbox_rejected;
CREATE INDEX outbox_rejected_by_number ON outbox_rejected (device_id, mutation_id);

CREATE TABLE refused_events_v10 (
    device_id  TEXT    NOT NULL,
    device_seq INTEGER NOT NULL,
    session_id TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    refused_at TEXT    NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);
INSERT INTO refused_events_v10
SELECT (SELECT device_id FROM device), device_seq, session_id, reason, refused_at
FROM refused_events;
DROP TABLE refused_events;
ALTER TABLE refused_events_v10 RENAME TO refused_events;
