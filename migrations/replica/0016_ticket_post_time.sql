-- Replica schema, version 16: the engineer's time posted with a note, as a ConnectWise time
-- entry (the session's start and end, RFC 3339), and the entry the server made.
ALTER TABLE ticket_posts ADD COLUMN time_start TEXT;
ALTER TABLE ticket_posts ADD COLUMN time_end TEXT;
ALTER TABLE ticket_posts ADD COLUMN time_entry_id INTEGER;
