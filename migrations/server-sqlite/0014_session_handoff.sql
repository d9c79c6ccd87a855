-- Sync server (sqlite back end), version 14: session hand-offs. A session's owner (`user_id`) is
-- the engineer who may append to it; `handed_to` names the account a hand-off event gave it
-- to, until that account's device appends and becomes its owner. While it is set nobody
-- appends, so a session has one writer at a time. The same shape as the other back end's
-- 0014_session_handoff.sql.
ALTER TABLE sessions ADD COLUMN handed_to TEXT;
