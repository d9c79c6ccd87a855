-- Replica schema, version 11: what this replica published (and what it holds under earlier
-- device ids), so a sync server restored from an older backup gets it back.
--
-- Each flow version whose put_version the server applied is recorded here with the version it
-- was made from. When the server's epoch changes (it was restored), every row is marked
-- unconfirmed and the team's changes are pulled again from the start; a version the restored
-- server delivers is confirmed, and once the pull is complete the unconfirmed ones are queued
-- again, in the order they were first published, each from its own base, so the server
-- advances or merges exactly as it did the first time.
CREATE TABLE published_versions (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_id   TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    base      TEXT,
    confirmed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX published_versions_by_version ON published_versions (flow_id, version);

ALTER TABLE sync_state ADD COLUMN republish_pending INTEGER NOT NULL DEFAULT 0;

-- What the server holds of each retired device id's events, so a server restored from an
-- older backup gets those back under their own id too.
ALTER TABLE retired_devices ADD COLUMN pushed_event_seq INTEGER NOT NULL DEFAULT 0;
UPDATE retired_devices SET pushed_event_seq = last_event_seq;
