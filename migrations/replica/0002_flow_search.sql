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

-- Ranking: bm25 with the title weighted highest, then tags, then commands, then body text
-- (flow_id is not indexed). Kept as the table's rank function so queries can `ORDER BY rank`,
-- which FTS5 sorts itself: snippets are then built only for the rows a query returns.
INSERT INTO flow_search (flow_search, rank) VALUES ('rank', 'bm25(0.0, 10.0, 1.0, 3.0, 5.0)');
