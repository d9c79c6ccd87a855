-- Sync server (SQLite back end), version 4: removed accounts.
-- Append-only: never edit this file once shipped; add a new numbered migration instead.

-- An account removed over the API (DELETE /api/v1/users/{id}) or by `rf-sync-server user
-- remove` keeps its row: its devices, sessions, events, flows and conflicts are the team's
-- records and point at it. It can no longer log in, its logins are revoked in the same
-- transaction, and it is no longer listed. NULL while the account is active.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
