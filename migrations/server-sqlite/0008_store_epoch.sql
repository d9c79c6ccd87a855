-- Sync server (sqlite back end), version 8: the store's epoch. Every pull page and push
-- answer carries it; `rf-sync-server new-epoch` replaces it after the database is restored
-- from a backup, and a replica that sees it change knows the server lost changes it had
-- accepted: it pulls everything again and sends again what it still holds, even when the
-- restored server's change numbers have already moved past the replica's mark.
-- The same shape as the other back end's 0008_store_epoch.sql.
CREATE TABLE store_epoch (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    epoch     TEXT    NOT NULL,
    began_at  INTEGER NOT NULL
);
INSERT INTO store_epoch (singleton, epoch, began_at)
VALUES (1, lower(hex(randomblob(16))), unixepoch());
