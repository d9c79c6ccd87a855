-- Sync server (sqlite back end), version 10: posts to ConnectWise tickets, each under the
-- idempotency key its replica chose, with its outcome, so a post is made exactly once
-- whatever is retried: a replica sending again after a lost answer, a second server, a server
-- that stopped half-way (state 'sending' past lease_until), an answer from ConnectWise lost in
-- transit (state 'ambiguous': the ticket's notes are read for the post's marker first).
-- The same shape as the other back end's 0010_psa_posts.sql.
CREATE TABLE psa_posts (
    team_id      TEXT    NOT NULL REFERENCES teams (id),
    post_key     TEXT    NOT NULL,
    requested_by TEXT    NOT NULL REFERENCES users (id),
    ticket_id    INTEGER NOT NULL,
    digest       TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('sending', 'ambiguous', 'posted', 'failed')),
    lease_until  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    note_id      INTEGER,
    posted_at    INTEGER,
    status_done  INTEGER NOT NULL,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (team_id, post_key)
);
