-- Sync server (postgres back end), version 14: session hand-offs. A session's owner (`user_id`) is
-- the engineer who may append to it; `handed_to` names the account a hand-off event gave it
-- to, until that account's device appends and becomes its owner. While it is set nobody
-- appends, so a session has one writer at a time. `handoff_seq` is the place of the last
-- hand-off in the session and `handed_by` who held it then: that engineer's events from before
-- it may still arrive (a device's events can reach the server out of order). The same shape as
-- the other back end's 0014_session_handoff.sql.
ALTER TABLE sessions ADD COLUMN handed_to TEXT;
ALTER TABLE sessions ADD COLUMN handoff_seq BIGINT;
ALTER TABLE sessions ADD COLUMN handed_by TEXT;
-- The device that took the session up after a hand-off: the receiver's other devices may not
-- write it too.
ALTER TABLE sessions ADD COLUMN writer_device TEXT;
