-- Full-text search over flows (FTS5): title, body text, commands and tags of each flow's
-- latest version. The replica fills it from flow_versions right after this migration, in the
-- same transaction, so a database upgraded from version 1 is searchable at once.
CREATE VIRTUAL TABLE flow_search USING fts5 (
    flow_id UNINDEXED,
    title,
    body,
    commands,
    tags,
    tokenize = 'unicode61 remove_diacritics 2'
);
