-- Replica, version 18: the team's members as the sync server last listed them (after each sync
-- round), so a hand-off is checked while offline: the teammate must be an active member and
-- not a viewer.
CREATE TABLE team_members (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
