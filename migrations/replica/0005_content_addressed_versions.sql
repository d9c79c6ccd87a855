-- Flow versions are named by content. A session event refers to (flow_id, version id), where
-- the version id is rf_core::VersionId (the SHA-256 of the canonical document without its id),
-- held in flow_versions.content_hash; the same document has the same name on every replica, so
-- versions made offline on two replicas can never collide. The integer `version` stays as this
-- replica's local ordinal and key.
--
-- The Rust step of this migration (rf-replica `flows::upgrade_version_refs`) recomputes every
-- content_hash from its document and rewrites the integer references in session events and in
-- queued flow mutations. It needs the protecting triggers out of the way; 0006 restores them.
DROP TRIGGER flow_versions_are_immutable;
DROP TRIGGER session_events_are_append_only;
CREATE INDEX flow_versions_by_flow_hash ON flow_versions (flow_id, content_hash);
