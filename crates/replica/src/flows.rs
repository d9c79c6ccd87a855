//! Flows in the replica: import with immutable versions, lookup, full-text search, pins and
//! recent flows.

use std::collections::BTreeSet;

use rf_core::session::{FlowRef, FlowSet};
use rf_core::sync::{PUT_FLOW_VERSION, PutFlowVersion};
use rf_core::validate::validate;
use rf_core::{Flow, FlowKind, VersionId};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{ReplicaError, Result};
use crate::{
    FlowSummary, Replica, SearchHit, StoredFlow, WriteSource, enqueue, now, resolve_prefix,
    timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Created,
    NewVersion,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportOutcome {
    pub flow_id: Uuid,
    pub version: u32,
    pub version_id: VersionId,
    pub title: String,
    pub status: ImportStatus,
}

fn parse_version_id(text: &str) -> rusqlite::Result<VersionId> {
    text.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn parse_kind(text: &str) -> rusqlite::Result<FlowKind> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn parse_uuid(text: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

const SUMMARY_COLUMNS: &str =
    "f.id, f.title, f.kind, f.category, f.tags, f.status, f.latest_version,
    v.node_count, f.updated_at, EXISTS (SELECT 1 FROM pins p WHERE p.flow_id = f.id),
    v.content_hash";

fn summary_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<FlowSummary> {
    let tags: String = row.get(4)?;
    Ok(FlowSummary {
        id: parse_uuid(&row.get::<_, String>(0)?)?,
        title: row.get(1)?,
        kind: parse_kind(&row.get::<_, String>(2)?)?,
        category: row.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        status: row.get(5)?,
        version: row.get(6)?,
        node_count: row.get(7)?,
        updated_at: row.get(8)?,
        pinned: row.get(9)?,
        version_id: parse_version_id(&row.get::<_, String>(10)?)?,
    })
}

/// Writes one flow inside the caller's transaction.
pub(crate) fn import_in(
    transaction: &Transaction<'_>,
    mut flow: Flow,
    source: WriteSource,
) -> Result<ImportOutcome> {
    let problems = validate(&flow);
    if let Some(first) = problems.first() {
        return Err(ReplicaError::Invalid(format!(
            "the flow is not valid ({} problem(s)); first: {first}",
            problems.len()
        )));
    }
    // The server parses what it receives with the same limit (`Flow::parse`), so a document
    // larger than a flow file may be could never sync: refused here, at the door.
    let size = flow.to_json_compact().len();
    if size > rf_core::flow::MAX_FLOW_FILE_BYTES {
        return Err(ReplicaError::Invalid(format!(
            "the flow is {size} bytes as compact JSON; the limit is {} — split it into subflows",
            rf_core::flow::MAX_FLOW_FILE_BYTES
        )));
    }
    let version_id = VersionId::of(&flow);
    let hash = version_id.to_string();
    // The flow's current head (local ordinal, version id), if the flow is known.
    let head = match flow.id {
        Some(id) => transaction
            .query_row(
                "SELECT f.latest_version, v.content_hash FROM flows f
                 JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
                 WHERE f.id = ?1",
                [id.to_string()],
                |row| Ok((id, row.get::<_, u32>(0)?, row.get::<_, String>(1)?)),
            )
            .optional()?,
        None => transaction
            .query_row(
                "SELECT f.id, f.latest_version, v.content_hash FROM flow_versions v
                 JOIN flows f ON f.id = v.flow_id AND f.latest_version = v.version
                 WHERE v.content_hash = ?1 ORDER BY f.created_at LIMIT 1",
                [&hash],
                |row| {
                    Ok((
                        parse_uuid(&row.get::<_, String>(0)?)?,
                        row.get(1)?,
                        row.get(2)?,
                    ))
                },
            )
            .optional()?,
    };
    let (flow_id, base, status) = match head {
        Some((id, latest, head_hash)) if head_hash == hash => {
            return Ok(ImportOutcome {
                flow_id: id,
                version: latest,
                version_id,
                title: flow.title,
                status: ImportStatus::Unchanged,
            });
        }
        Some((id, _, head_hash)) => (
            id,
            Some(parse_version_id(&head_hash)?),
            ImportStatus::NewVersion,
        ),
        None => (
            flow.id.unwrap_or_else(Uuid::new_v4),
            None,
            ImportStatus::Created,
        ),
    };
    flow.id = Some(flow_id);
    let id_text = flow_id.to_string();
    let stamp = timestamp(now());
    // A document this replica already holds (an earlier version re-imported, or one that
    // arrived by sync) becomes the head again; otherwise it is stored as the next ordinal.
    let known = held_version(transaction, &id_text, &hash)?;
    let version = match known {
        Some(version) => version,
        None => next_ordinal(transaction, &id_text)?,
    };
    let tags = serde_json::to_string(&flow.tags).unwrap_or_else(|_| "[]".into());
    if status == ImportStatus::Created {
        transaction.execute(
            "INSERT INTO flows (id, kind, title, category, tags, latest_version, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![id_text, flow.kind.as_str(), flow.title, flow.category, tags, version, stamp],
        )?;
    } else {
        move_head(transaction, &id_text, &flow, version)?;
    }
    if known.is_none() {
        let document = flow.to_json_compact();
        transaction.execute(
            "INSERT INTO flow_versions (flow_id, version, document, content_hash, node_count, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id_text, version, document, hash, flow.nodes.len() as i64, source.as_str(), stamp],
        )?;
    }
    index_for_search(transaction, &id_text, &flow)?;
    if source != WriteSource::Sync {
        let document = serde_json::to_value(&flow)
            .map_err(ReplicaError::corrupt(format!("flow {flow_id}")))?;
        let payload = PutFlowVersion {
            version: version_id,
            base,
            document,
        };
        let payload = serde_json::to_value(&payload)
            .map_err(ReplicaError::corrupt(format!("flow {flow_id}")))?;
        enqueue(
            transaction,
            "flow",
            &id_text,
            PUT_FLOW_VERSION,
            None,
            &payload,
        )?;
    }
    Ok(ImportOutcome {
        flow_id,
        version,
        version_id,
        title: flow.title,
        status,
    })
}

/// The local ordinal of a version this replica holds, by version id.
fn held_version(transaction: &Transaction<'_>, flow_id: &str, hash: &str) -> Result<Option<u32>> {
    Ok(transaction
        .query_row(
            "SELECT version FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2
             ORDER BY version LIMIT 1",
            params![flow_id, hash],
            |row| row.get(0),
        )
        .optional()?)
}

/// The ordinal a new version of the flow gets here.
fn next_ordinal(transaction: &Transaction<'_>, flow_id: &str) -> Result<u32> {
    Ok(transaction.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM flow_versions WHERE flow_id = ?1",
        [flow_id],
        |row| row.get(0),
    )?)
}

/// Stores a version that arrived from the sync server, unless this replica holds it already;
/// a flow this replica has never seen is created with it as its head. Returns whether it was
/// new here.
pub(crate) fn store_synced_version(
    transaction: &Transaction<'_>,
    flow_id: Uuid,
    version_id: VersionId,
    flow: &Flow,
) -> Result<bool> {
    let id_text = flow_id.to_string();
    let hash = version_id.to_string();
    if held_version(transaction, &id_text, &hash)?.is_some() {
        return Ok(false);
    }
    let version = next_ordinal(transaction, &id_text)?;
    let stamp = timestamp(now());
    let mut document = flow.clone();
    document.id = Some(flow_id);
    let new_flow = transaction.execute(
        "INSERT INTO flows (id, kind, title, category, tags, latest_version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (id) DO NOTHING",
        params![
            id_text,
            flow.kind.as_str(),
            flow.title,
            flow.category,
            serde_json::to_string(&flow.tags).unwrap_or_else(|_| "[]".into()),
            version,
            stamp
        ],
    )? == 1;
    transaction.execute(
        "INSERT INTO flow_versions (flow_id, version, document, content_hash, node_count, source, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'sync', ?6)",
        params![id_text, version, document.to_json_compact(), hash, flow.nodes.len() as i64, stamp],
    )?;
    if new_flow {
        index_for_search(transaction, &id_text, &document)?;
    }
    Ok(true)
}

/// Makes a version this replica holds the flow's head (the team's head, from the server).
/// Returns false when the flow or version is not here.
pub(crate) fn adopt_head(
    transaction: &Transaction<'_>,
    flow_id: Uuid,
    version_id: VersionId,
) -> Result<bool> {
    let id_text = flow_id.to_string();
    let found: Option<(u32, String)> = transaction
        .query_row(
            "SELECT version, document FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2
             ORDER BY version LIMIT 1",
            params![id_text, version_id.to_string()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((version, document)) = found else {
        return Ok(false);
    };
    let flow: Flow = serde_json::from_str(&document)
        .map_err(ReplicaError::corrupt(format!("flow {flow_id}")))?;
    if move_head(transaction, &id_text, &flow, version)? {
        index_for_search(transaction, &id_text, &flow)?;
    }
    Ok(true)
}

/// Makes local version `version` (whose document is `flow`) the flow's head, with the flow row's
/// title, kind, category and tags taken from it. Returns false when it already was the head.
fn move_head(
    transaction: &Transaction<'_>,
    id_text: &str,
    flow: &Flow,
    version: u32,
) -> Result<bool> {
    let changed = transaction.execute(
        "UPDATE flows SET kind = ?2, title = ?3, category = ?4, tags = ?5, latest_version = ?6,
                          updated_at = ?7
         WHERE id = ?1 AND latest_version <> ?6",
        params![
            id_text,
            flow.kind.as_str(),
            flow.title,
            flow.category,
            serde_json::to_string(&flow.tags).unwrap_or_else(|_| "[]".into()),
            version,
            timestamp(now())
        ],
    )?;
    Ok(changed > 0)
}

/// The version id of a flow version named the old way, by this replica's ordinal: computed
/// from the stored document, so it is right even where an old build stored another hash.
fn legacy_version_id(
    connection: &rusqlite::Connection,
    flow_id: &str,
    version: i64,
) -> Result<Option<VersionId>> {
    let document: Option<String> = connection
        .query_row(
            "SELECT document FROM flow_versions WHERE flow_id = ?1 AND version = ?2",
            params![flow_id, version],
            |row| row.get(0),
        )
        .optional()?;
    let Some(document) = document else {
        return Ok(None);
    };
    let flow = Flow::parse_unvalidated(&document).map_err(|error| {
        ReplicaError::Damaged(format!(
            "flow {flow_id} version {version} is not a readable flow document: {error}"
        ))
    })?;
    Ok(Some(VersionId::of(&flow)))
}

/// Rewrites a session event written before schema 5, whose `flow.version` is this replica's
/// ordinal, to name the version by id. Returns whether anything changed.
pub(crate) fn upgrade_event_payload(
    connection: &rusqlite::Connection,
    payload: &mut serde_json::Value,
) -> Result<bool> {
    let Some(flow) = payload.get_mut("flow") else {
        return Ok(false);
    };
    let (Some(flow_id), Some(version)) = (
        flow.get("flow_id")
            .and_then(|id| id.as_str())
            .map(str::to_owned),
        flow.get("version").and_then(serde_json::Value::as_i64),
    ) else {
        return Ok(false);
    };
    let id = legacy_version_id(connection, &flow_id, version)?.ok_or_else(|| {
        ReplicaError::Damaged(format!(
            "a session event refers to flow {flow_id} version {version}, which this replica does not hold"
        ))
    })?;
    flow["version"] = serde_json::Value::String(id.to_string());
    Ok(true)
}

/// Migration 5's step: every `content_hash` recomputed from its document, session events and
/// queued flow mutations rewritten to name versions by id. Idempotent.
pub(crate) fn upgrade_version_refs(transaction: &Transaction<'_>) -> Result<()> {
    let versions: Vec<(String, i64, String)> = transaction
        .prepare("SELECT flow_id, version, content_hash FROM flow_versions")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (flow_id, version, stored) in &versions {
        if let Some(id) = legacy_version_id(transaction, flow_id, *version)?
            && id.to_string() != *stored
        {
            transaction.execute(
                "UPDATE flow_versions SET content_hash = ?3 WHERE flow_id = ?1 AND version = ?2",
                params![flow_id, version, id.to_string()],
            )?;
        }
    }
    let events: Vec<(String, i64, String)> = transaction
        .prepare(
            "SELECT device_id, device_seq, payload FROM session_events
             WHERE kind IN ('started', 'subflow_entered', 'subflow_left')",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (device_id, device_seq, payload) in events {
        let mut value: serde_json::Value = serde_json::from_str(&payload).map_err(
            ReplicaError::corrupt(format!("event {device_id}/{device_seq}")),
        )?;
        if upgrade_event_payload(transaction, &mut value)? {
            transaction.execute(
                "UPDATE session_events SET payload = ?3 WHERE device_id = ?1 AND device_seq = ?2",
                params![device_id, device_seq, value.to_string()],
            )?;
        }
    }
    let queued: Vec<(i64, String, Option<i64>, String)> = transaction
        .prepare(
            "SELECT mutation_id, entity_id, base_version, payload FROM outbox
             WHERE entity = 'flow' AND operation = 'put_version'",
        )?
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (mutation_id, flow_id, base_version, payload) in queued {
        let old: serde_json::Value = serde_json::from_str(&payload).map_err(
            ReplicaError::corrupt(format!("outbox mutation {mutation_id}")),
        )?;
        let Some(version) = old.get("version").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        let missing = || {
            ReplicaError::Damaged(format!(
                "outbox mutation {mutation_id} refers to flow {flow_id} version {version}, which this replica does not hold"
            ))
        };
        let id = legacy_version_id(transaction, &flow_id, version)?.ok_or_else(missing)?;
        let base = match base_version {
            Some(base) => legacy_version_id(transaction, &flow_id, base)?,
            None => None,
        };
        let document: String = transaction.query_row(
            "SELECT document FROM flow_versions WHERE flow_id = ?1 AND version = ?2",
            params![flow_id, version],
            |row| row.get(0),
        )?;
        let document: serde_json::Value = serde_json::from_str(&document).map_err(
            ReplicaError::corrupt(format!("flow {flow_id} version {version}")),
        )?;
        let payload = serde_json::to_value(PutFlowVersion {
            version: id,
            base,
            document,
        })
        .map_err(ReplicaError::corrupt(format!(
            "outbox mutation {mutation_id}"
        )))?;
        transaction.execute(
            "UPDATE outbox SET payload = ?2, base_version = NULL WHERE mutation_id = ?1",
            params![mutation_id, payload.to_string()],
        )?;
    }
    Ok(())
}

/// Replaces a flow's row in the full-text index.
fn index_for_search(transaction: &Transaction<'_>, flow_id: &str, flow: &Flow) -> Result<()> {
    let rowid: i64 =
        transaction.query_row("SELECT rowid FROM flows WHERE id = ?1", [flow_id], |row| {
            row.get(0)
        })?;
    let document = flow.search_document();
    transaction.execute("DELETE FROM flow_search WHERE rowid = ?1", [rowid])?;
    transaction.execute(
        "INSERT INTO flow_search (rowid, flow_id, title, body, commands, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![rowid, flow_id, document.title, document.body, document.commands, document.tags],
    )?;
    Ok(())
}

/// Fills the search index from the latest version of every flow (used by migration 2).
pub(crate) fn rebuild_search_index(transaction: &Transaction<'_>) -> Result<()> {
    transaction.execute("DELETE FROM flow_search", [])?;
    let mut statement = transaction.prepare(
        "SELECT f.id, v.document FROM flows f
         JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version",
    )?;
    let rows: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, document) in rows {
        let flow: Flow =
            serde_json::from_str(&document).map_err(ReplicaError::corrupt(format!("flow {id}")))?;
        index_for_search(transaction, &id, &flow)?;
    }
    Ok(())
}

/// The words of a search, lowercased; anything that is not a letter or digit separates words.
fn query_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Turns what a person types into an FTS5 query: every word must appear, as a word prefix.
/// Quotes and operators in the input are treated as spaces, so no input is a syntax error.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = query_terms(text)
        .iter()
        .map(|word| format!("\"{word}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Words of context shown around the first match.
const SNIPPET_WORDS: usize = 14;

/// A short excerpt of `text` around its first word that starts with a search term, matches in
/// `[brackets]`, elided ends marked `…`. Built here rather than with FTS5's `snippet()`, whose
/// scoring of every match position cost 0.5 ms per hit on long flows (docs/PERFORMANCE.md);
/// this is one linear pass over one text.
fn snippet(text: &str, terms: &[String], words: usize) -> Option<String> {
    let spans: Vec<(usize, usize)> = text
        .char_indices()
        .filter(|(index, c)| {
            c.is_alphanumeric()
                && !text[..*index]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
        })
        .map(|(start, _)| {
            let end = text[start..]
                .char_indices()
                .find(|(_, c)| !c.is_alphanumeric())
                .map_or(text.len(), |(offset, _)| start + offset);
            (start, end)
        })
        .collect();
    let is_match = |(start, end): (usize, usize)| {
        let word = text[start..end].to_lowercase();
        terms.iter().any(|term| word.starts_with(term.as_str()))
    };
    let first = spans.iter().position(|span| is_match(*span))?;
    let from = first.saturating_sub(words / 3);
    let to = (from + words).min(spans.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut cursor = spans[from].0;
    for span in &spans[from..to] {
        out.push_str(&text[cursor..span.0].replace('\n', " "));
        if is_match(*span) {
            out.push('[');
            out.push_str(&text[span.0..span.1]);
            out.push(']');
        } else {
            out.push_str(&text[span.0..span.1]);
        }
        cursor = span.1;
    }
    if to < spans.len() {
        out.push('…');
    }
    Some(out)
}

impl Replica {
    /// Imports one validated flow: a new flow, a new version of an existing one, or nothing if
    /// the content is unchanged. Commits with its outbox row.
    #[tracing::instrument(skip_all, err(level = "debug"), fields(title = %flow.title))]
    pub fn import_flow(&mut self, flow: Flow, source: WriteSource) -> Result<ImportOutcome> {
        let transaction = self.write_transaction()?;
        let outcome = import_in(&transaction, flow, source)?;
        transaction.commit()?;
        Ok(outcome)
    }

    /// Imports many flows in one transaction: all or none.
    pub fn import_flows(
        &mut self,
        flows: Vec<Flow>,
        source: WriteSource,
    ) -> Result<Vec<ImportOutcome>> {
        let transaction = self.write_transaction()?;
        let outcomes = flows
            .into_iter()
            .map(|flow| import_in(&transaction, flow, source))
            .collect::<Result<Vec<_>>>()?;
        transaction.commit()?;
        Ok(outcomes)
    }

    pub fn flows(&self) -> Result<Vec<FlowSummary>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM flows f
             JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
             ORDER BY f.title COLLATE NOCASE, f.id"
        ))?;
        let rows = statement.query_map([], summary_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn flow(&self, id: Uuid) -> Result<StoredFlow> {
        let found = self
            .connection
            .query_row(
                &format!(
                    "SELECT {SUMMARY_COLUMNS}, v.document FROM flows f
                     JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
                     WHERE f.id = ?1"
                ),
                [id.to_string()],
                |row| Ok((summary_from_row(row)?, row.get::<_, String>(11)?)),
            )
            .optional()?;
        let (summary, document) = found.ok_or_else(|| ReplicaError::NotFound {
            what: "flow",
            given: id.to_string(),
        })?;
        let document =
            serde_json::from_str(&document).map_err(ReplicaError::corrupt(format!("flow {id}")))?;
        Ok(StoredFlow { summary, document })
    }

    pub fn flow_version(&self, reference: FlowRef) -> Result<Flow> {
        let document: String = self
            .connection
            .query_row(
                "SELECT document FROM flow_versions WHERE flow_id = ?1 AND content_hash = ?2
                 ORDER BY version LIMIT 1",
                params![reference.flow_id.to_string(), reference.version.to_string()],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| ReplicaError::NotFound {
                what: "flow version",
                given: format!("{} {}", reference.flow_id, reference.version.short()),
            })?;
        serde_json::from_str(&document)
            .map_err(ReplicaError::corrupt(format!("flow {}", reference.flow_id)))
    }

    /// Finds a flow by id prefix, else by exact title (any case).
    pub fn resolve_flow(&self, given: &str) -> Result<Uuid> {
        if let Some(id) = resolve_prefix(&self.connection, "flows", "flow", given)? {
            return Ok(id);
        }
        let mut statement = self.connection.prepare_cached(
            "SELECT id FROM flows WHERE title = ?1 COLLATE NOCASE ORDER BY id LIMIT 6",
        )?;
        let ids: Vec<String> = statement
            .query_map([given.trim()], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        match ids.as_slice() {
            [one] => Uuid::parse_str(one).map_err(|error| ReplicaError::Invalid(error.to_string())),
            [] => Err(ReplicaError::NotFound {
                what: "flow",
                given: given.to_owned(),
            }),
            many => Err(ReplicaError::Ambiguous {
                what: "flow",
                given: given.to_owned(),
                candidates: many.iter().map(|id| id[..8].to_owned()).collect(),
            }),
        }
    }

    /// Full-text search over titles, bodies, commands and tags; best matches first.
    pub fn search_flows(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else {
            return Err(ReplicaError::Invalid(
                "the search has no words in it; type part of a title, command or tag".into(),
            ));
        };
        let mut statement = self.connection.prepare_cached(
            "SELECT s.flow_id, f.title, f.kind, s.body, s.commands, s.tags, s.rank
             FROM (SELECT rowid, flow_id, body, commands, tags, rank
                   FROM flow_search WHERE flow_search MATCH ?1
                   ORDER BY rank LIMIT ?2) s
             JOIN flows f ON f.rowid = s.rowid
             ORDER BY s.rank",
        )?;
        let terms = query_terms(query);
        let rows = statement.query_map(params![fts, limit as i64], |row| {
            let texts: [String; 3] = [row.get(3)?, row.get(4)?, row.get(5)?];
            Ok(SearchHit {
                id: parse_uuid(&row.get::<_, String>(0)?)?,
                title: row.get(1)?,
                kind: parse_kind(&row.get::<_, String>(2)?)?,
                snippet: texts
                    .iter()
                    .find_map(|text| snippet(text, &terms, SNIPPET_WORDS))
                    .unwrap_or_default(),
                rank: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Subflow targets of a flow's latest version that are not in the library.
    pub fn missing_subflows(&self, id: Uuid) -> Result<Vec<String>> {
        let flow = self.flow(id)?.document;
        let mut missing = Vec::new();
        for target in flow.subflow_targets() {
            let known = Uuid::parse_str(target)
                .ok()
                .map(|target| self.flow(target).is_ok())
                .unwrap_or(false);
            if !known && !missing.iter().any(|seen: &String| seen == target) {
                missing.push(target.to_owned());
            }
        }
        Ok(missing)
    }

    /// Every flow document a session of these flows may need: the given versions, and the
    /// latest version of each subflow they run, transitively.
    pub fn flow_set(&self, references: impl IntoIterator<Item = FlowRef>) -> Result<FlowSet> {
        let mut set = FlowSet::new();
        let mut loaded = BTreeSet::new();
        let mut pending: Vec<Flow> = Vec::new();
        for reference in references {
            if loaded.insert(reference) {
                let flow = self.flow_version(reference)?;
                pending.push(flow.clone());
                set.insert(reference, flow);
            }
        }
        let mut seen_latest = BTreeSet::new();
        while let Some(flow) = pending.pop() {
            for target in flow.subflow_targets() {
                let Ok(target) = Uuid::parse_str(target) else {
                    continue;
                };
                if !seen_latest.insert(target) {
                    continue;
                }
                // A missing subflow is reported by the engine when the session reaches it.
                let Ok(stored) = self.flow(target) else {
                    continue;
                };
                let reference = FlowRef {
                    flow_id: target,
                    version: stored.summary.version_id,
                };
                if loaded.insert(reference) {
                    pending.push(stored.document.clone());
                }
                set.insert_latest(reference, stored.document);
            }
        }
        Ok(set)
    }

    /// The latest version of a flow as a [`FlowRef`].
    pub fn latest_flow_ref(&self, id: Uuid) -> Result<FlowRef> {
        let version: VersionId = self
            .connection
            .query_row(
                "SELECT v.content_hash FROM flows f
                 JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
                 WHERE f.id = ?1",
                [id.to_string()],
                |row| parse_version_id(&row.get::<_, String>(0)?),
            )
            .optional()?
            .ok_or_else(|| ReplicaError::NotFound {
                what: "flow",
                given: id.to_string(),
            })?;
        Ok(FlowRef {
            flow_id: id,
            version,
        })
    }

    /// Pins a flow to the quick-launch list (at the end); pinning twice changes nothing.
    pub fn pin_flow(&mut self, id: Uuid) -> Result<bool> {
        self.flow(id)?;
        let transaction = self.write_transaction()?;
        let inserted = transaction.execute(
            "INSERT INTO pins (flow_id, position, pinned_at)
             SELECT ?1, COALESCE(MAX(position), 0) + 1, ?2 FROM pins WHERE true
             ON CONFLICT (flow_id) DO NOTHING",
            params![id.to_string(), timestamp(now())],
        )?;
        if inserted > 0 {
            enqueue(
                &transaction,
                rf_core::sync::PIN_ENTITY,
                &id.to_string(),
                rf_core::sync::PIN,
                None,
                &serde_json::json!({}),
            )?;
        }
        transaction.commit()?;
        Ok(inserted > 0)
    }

    pub fn unpin_flow(&mut self, id: Uuid) -> Result<bool> {
        let transaction = self.write_transaction()?;
        let removed =
            transaction.execute("DELETE FROM pins WHERE flow_id = ?1", [id.to_string()])?;
        if removed > 0 {
            enqueue(
                &transaction,
                rf_core::sync::PIN_ENTITY,
                &id.to_string(),
                rf_core::sync::UNPIN,
                None,
                &serde_json::json!({}),
            )?;
        }
        transaction.commit()?;
        Ok(removed > 0)
    }

    pub fn pinned_flows(&self) -> Result<Vec<FlowSummary>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM pins p0
             JOIN flows f ON f.id = p0.flow_id
             JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
             ORDER BY p0.position"
        ))?;
        let rows = statement.query_map([], summary_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Flows by their most recent session start, newest first (derived from sessions, so it
    /// can never disagree with them).
    pub fn recent_flows(&self, limit: usize) -> Result<Vec<FlowSummary>> {
        let mut statement = self.connection.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM
               (SELECT flow_id, MAX(started_at) AS last_used FROM sessions GROUP BY flow_id) r
             JOIN flows f ON f.id = r.flow_id
             JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
             ORDER BY r.last_used DESC LIMIT ?1"
        ))?;
        let rows = statement.query_map([limit as i64], summary_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_show_context_around_the_first_match() {
        let terms = vec!["spool".to_owned(), "queue".to_owned()];
        let text = "Open services.msc on the print server and check that the Print Spooler is running; then clear the queue folder";
        assert_eq!(
            snippet(text, &terms, 6).unwrap(),
            "…the Print [Spooler] is running; then…"
        );
        assert_eq!(
            snippet("Spooler down", &terms, 6).unwrap(),
            "[Spooler] down"
        );
        assert_eq!(snippet("nothing here", &terms, 6), None);
        assert_eq!(snippet("", &terms, 6), None);
        assert_eq!(
            snippet("ünïcode spoolér", &terms, 6).unwrap(),
            "ünïcode [spoolér]"
        );
    }

    #[test]
    fn search_queries_never_carry_fts_syntax() {
        assert_eq!(
            fts_query("vda register"),
            Some("\"vda\"* \"register\"*".into())
        );
        assert_eq!(
            fts_query("\"x\" OR y*"),
            Some("\"x\"* \"or\"* \"y\"*".into())
        );
        assert_eq!(fts_query("  -- ** "), None);
        assert_eq!(fts_query("Get-ADUser"), Some("\"get\"* \"aduser\"*".into()));
    }
}
