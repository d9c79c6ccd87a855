-- Restores the triggers 0005 lifted for its rewrite, unchanged.
CREATE TRIGGER flow_versions_are_immutable BEFORE UPDATE ON flow_versions
BEGIN
    SELECT RAISE(ABORT, 'flow versions are immutable; import a new version instead');
END;
CREATE TRIGGER session_events_are_append_only BEFORE UPDATE ON session_events
BEGIN
    SELECT RAISE(ABORT, 'session events are append-only');
END;
