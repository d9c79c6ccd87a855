-- Attachments of other devices' sessions that this replica has pulled events for but not the
-- files yet. A pull page adds them in its transaction; the sync client downloads each file
-- (checked against its SHA-256) and deletes the row, so a crash in between only means the
-- download is tried again.
CREATE TABLE attachment_downloads (
    sha256 TEXT    PRIMARY KEY,
    name   TEXT    NOT NULL,
    size   INTEGER NOT NULL
);
