-- Session events of this device that the sync server refused for good (they break the session
-- rules: a damaged database or a bug). The events stay in the session log here; this keeps the
-- server's reason so `rf status` can show them.
CREATE TABLE refused_events (
    device_seq INTEGER PRIMARY KEY,
    session_id TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    refused_at TEXT    NOT NULL
);

-- What other people wrote that this replica cannot use: a pulled event that breaks the session
-- rules, a flow version whose document is invalid or does not match its name, an attachment
-- whose file never matches its SHA-256. Each is kept whole with the reason, shown by
-- `rf status`, and never applied, so one bad item never stops the rest of a pull.
CREATE TABLE set_aside (
    kind         TEXT    NOT NULL,  -- 'event', 'flow_version' or 'attachment'
    item         TEXT    NOT NULL,  -- its key: '<device id>/<device seq>', '<flow id>/<version>', '<sha256>'
    team_seq     INTEGER,
    reason       TEXT    NOT NULL,
    payload      TEXT,
    set_aside_at TEXT    NOT NULL,
    PRIMARY KEY (kind, item)
);
