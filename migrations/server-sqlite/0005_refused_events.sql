-- Sync server (sqlite back end), version 5: pushed session events the server refused because
-- they break rf-core's rules (rf_core::received::read_event). Each is kept with its reason, so
-- a retried push is answered the same way; it counts in its device's acknowledged prefix, so
-- the device's later events are not held behind it; and it is never served to the team.
-- The same shape as the other back end's 0005_refused_events.sql.
CREATE TABLE refused_events (
    device_id   TEXT    NOT NULL REFERENCES devices (device_id),
    device_seq  INTEGER NOT NULL,
    session_id  TEXT    NOT NULL,
    team_id     TEXT    NOT NULL REFERENCES teams (id),
    reason      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    refused_at  INTEGER NOT NULL,
    PRIMARY KEY (device_id, device_seq)
);

-- Mutations the server refused for good, by device and number, with the reason: a retried
-- push whose first answer was lost gets the same refusal again (the mutation is a duplicate
-- then), instead of a bare "settled" that its replica would take for applied.
CREATE TABLE rejected_mutations (
    device_id   TEXT    NOT NULL REFERENCES devices (device_id),
    mutation_id INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    rejected_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, mutation_id)
);
