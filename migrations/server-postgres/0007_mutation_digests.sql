-- Sync server (postgres back end), version 7: the digest of every mutation the server settles
-- (rf_core::sync::mutation_digest), by device and number. A number sent again with other
-- content is not a retry but a second copy of the device (a replica restored from an older
-- backup, or copied to another machine): the push answers with an identity clash instead of
-- taking it for a duplicate and dropping it. Numbers settled before this version have none.
-- The same shape as the other back end's 0007_mutation_digests.sql.
CREATE TABLE mutation_digests (
    device_id   TEXT    NOT NULL REFERENCES devices (device_id),
    mutation_id BIGINT  NOT NULL,
    digest      TEXT    NOT NULL,
    PRIMARY KEY (device_id, mutation_id)
);
