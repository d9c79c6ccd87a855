-- Sync server (postgres back end), version 12: the engineer's time on a ticket, posted with the
-- note exactly once like it (the time entry's notes end with the post's marker line), and
-- the team's own mapping of accounts to ConnectWise members where the e-mails differ.
-- The same shape as the other back end's 0012_time_entries.sql.
ALTER TABLE psa_posts ADD COLUMN time_done BIGINT NOT NULL DEFAULT 1;
ALTER TABLE psa_posts ADD COLUMN time_entry_id BIGINT;
CREATE TABLE psa_member_overrides (
    team_id           TEXT    NOT NULL REFERENCES teams (id),
    user_id           TEXT    NOT NULL REFERENCES users (id),
    member_identifier TEXT    NOT NULL,
    updated_at        BIGINT NOT NULL,
    updated_by        TEXT    NOT NULL REFERENCES users (id),
    PRIMARY KEY (team_id, user_id)
);
