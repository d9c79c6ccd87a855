//! The flow model and the `resolutionflow/v1` interchange format: parse, serialize, substitute.
//!
//! Unknown fields are kept in `extra` maps at the top level and on every node, command, link,
//! answer and intake field, so a file written by a newer version survives an import/export
//! round-trip unchanged (FLOW-FORMAT.md: "forward compatibility").

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::validate::{Problem, ProblemLocation};

/// The only format string this version reads and writes.
pub const FORMAT_V1: &str = "resolutionflow/v1";

/// Largest flow file we accept, in bytes. A 5,000-node flow is about 2 MB; anything larger is
/// almost certainly not a flow and would only slow the importer down.
pub const MAX_FLOW_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Extra fields a reader did not recognise, kept verbatim.
pub type ExtraFields = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Troubleshooting,
    Procedural,
    Maintenance,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Troubleshooting => "troubleshooting",
            FlowKind::Procedural => "procedural",
            FlowKind::Maintenance => "maintenance",
        }
    }

    /// Procedural and maintenance flows are ordered checklists; troubleshooting flows are graphs.
    pub fn is_checklist(self) -> bool {
        !matches!(self, FlowKind::Troubleshooting)
    }
}

impl fmt::Display for FlowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Question,
    Action,
    Resolution,
    Subflow,
    Section,
    Step,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Question => "question",
            NodeKind::Action => "action",
            NodeKind::Resolution => "resolution",
            NodeKind::Subflow => "subflow",
            NodeKind::Section => "section",
            NodeKind::Step => "step",
        }
    }
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a session ended (also a resolution node's suggestion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Resolved,
    Workaround,
    Escalated,
    Unresolved,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Resolved,
        Outcome::Workaround,
        Outcome::Escalated,
        Outcome::Unresolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::Workaround => "workaround",
            Outcome::Escalated => "escalated",
            Outcome::Unresolved => "unresolved",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntakeField {
    pub name: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub label: String,
    pub language: String,
    pub code: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    pub url: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub label: String,
    pub next: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyKind {
    Checkbox,
    Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verify {
    pub kind: VerifyKind,
    #[serde(default)]
    pub prompt: String,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// One node of a flow. Type-specific fields are optional here and checked by validation, so a
/// file with several mistakes reports all of them instead of the first serde error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Command>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<Answer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

impl Node {
    /// A node with only the required fields set; handy for builders and tests.
    pub fn new(id: impl Into<String>, kind: NodeKind, title: impl Into<String>) -> Node {
        Node {
            id: id.into(),
            kind,
            title: title.into(),
            body: None,
            commands: Vec::new(),
            links: Vec::new(),
            expected: None,
            warning: None,
            estimated_minutes: None,
            verify: None,
            answers: None,
            next: None,
            outcome: None,
            flow: None,
            extra: ExtraFields::new(),
        }
    }

    pub fn answers(&self) -> &[Answer] {
        self.answers.as_deref().unwrap_or(&[])
    }

    /// Every text a person reads on this node, for search indexing and variable checks.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        let optional = [
            self.body.as_deref(),
            self.expected.as_deref(),
            self.warning.as_deref(),
            self.verify.as_ref().map(|verify| verify.prompt.as_str()),
        ];
        std::iter::once(self.title.as_str())
            .chain(optional.into_iter().flatten())
            .chain(
                self.commands
                    .iter()
                    .flat_map(|command| [command.label.as_str(), command.code.as_str()]),
            )
            .chain(self.links.iter().map(|link| link.title.as_str()))
            .chain(self.answers().iter().map(|answer| answer.label.as_str()))
    }
}

/// A flow document in the `resolutionflow/v1` format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub kind: FlowKind,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intake: Vec<IntakeField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Maintenance and procedural flows: the intake variable each target of a batch fills
    /// (`target` when absent). See [`Flow::target_variable`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub nodes: Vec<Node>,
    #[serde(flatten)]
    pub extra: ExtraFields,
}

/// Why a file could not be read as a flow: every problem found, each with its location.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} problem(s) in the flow file; first: {}", problems.len(), problems.first().map(ToString::to_string).unwrap_or_default())]
pub struct ParseError {
    pub problems: Vec<Problem>,
}

impl Flow {
    /// The intake variable each target of a batch fills: the `target` field, or `target`.
    pub fn target_variable(&self) -> &str {
        self.target.as_deref().unwrap_or("target")
    }

    /// Parses a flow file and validates it, reporting every problem found at once.
    ///
    /// Structural problems (a node of the wrong shape) are collected per node, so one bad node
    /// does not hide the problems of the others; semantic validation then runs on what parsed.
    pub fn parse(text: &str) -> Result<Flow, ParseError> {
        let flow = Flow::parse_unvalidated(text)?;
        let problems = crate::validate::validate(&flow);
        if problems.is_empty() {
            Ok(flow)
        } else {
            Err(ParseError { problems })
        }
    }

    /// Parses the structure only (no graph checks). Used for round-trip tests and by tools that
    /// want to show a broken flow in an editor.
    pub fn parse_unvalidated(text: &str) -> Result<Flow, ParseError> {
        let flow_problem = |message: String| ParseError {
            problems: vec![Problem::new(ProblemLocation::Flow, message)],
        };
        if text.len() > MAX_FLOW_FILE_BYTES {
            return Err(flow_problem(format!(
                "file is {} bytes, larger than the {} byte limit for a flow; split it into several flows",
                text.len(),
                MAX_FLOW_FILE_BYTES
            )));
        }
        let value: Value = serde_json::from_str(text).map_err(|error| {
            flow_problem(format!(
                "not valid JSON at line {}, column {}: {error}",
                error.line(),
                error.column()
            ))
        })?;
        let Value::Object(mut object) = value else {
            return Err(flow_problem(
                "the file must hold one JSON object (a flow), not an array or a scalar".into(),
            ));
        };
        // Taken in place (not removed) so the order of the other fields, unknown ones included,
        // is exactly the file's when the flow is written back.
        let raw_nodes = match object.get_mut("nodes").map(Value::take) {
            Some(Value::Array(nodes)) => nodes,
            Some(_) => return Err(flow_problem("`nodes` must be an array of nodes".into())),
            None => return Err(flow_problem("missing required field `nodes`".into())),
        };
        let mut problems = Vec::new();
        let mut nodes = Vec::with_capacity(raw_nodes.len());
        for (index, raw) in raw_nodes.into_iter().enumerate() {
            let location = match raw.get("id").and_then(Value::as_str) {
                Some(id) => ProblemLocation::Node(id.to_owned()),
                None => ProblemLocation::Flow,
            };
            match serde_json::from_value::<Node>(raw) {
                Ok(node) => nodes.push(node),
                Err(error) => problems.push(Problem::new(
                    location,
                    format!("node #{} is malformed: {error}", index + 1),
                )),
            }
        }
        if let Some(slot) = object.get_mut("nodes") {
            *slot = Value::Array(Vec::new());
        }
        match serde_json::from_value::<Flow>(Value::Object(object)) {
            Ok(mut flow) if problems.is_empty() => {
                flow.nodes = nodes;
                Ok(flow)
            }
            Ok(_) => Err(ParseError { problems }),
            Err(error) => {
                problems.insert(0, Problem::new(ProblemLocation::Flow, error.to_string()));
                Err(ParseError { problems })
            }
        }
    }

    /// The canonical file text: pretty JSON with a trailing newline, fields in document order.
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data (strings, numbers, maps with string keys) cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Compact JSON used for hashing and storage.
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.id == id)
    }

    /// Index of node ids for fast lookups in engines that visit many nodes.
    pub fn node_index(&self) -> BTreeMap<&str, usize> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(index, node)| (node.id.as_str(), index))
            .collect()
    }

    /// Where a session begins: `start` for troubleshooting, the first step for checklists.
    pub fn start_node(&self) -> Option<&Node> {
        match (&self.start, self.kind.is_checklist()) {
            (Some(start), _) => self.node(start),
            (None, true) => self.nodes.first(),
            (None, false) => None,
        }
    }

    /// The flows this one runs as subflows, in node order.
    pub fn subflow_targets(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|node| node.kind == NodeKind::Subflow)
            .filter_map(|node| node.flow.as_deref())
            .collect()
    }

    /// Every searchable text of the flow, joined per field group for the full-text index.
    pub fn search_document(&self) -> SearchDocument {
        let mut body = String::new();
        let mut commands = String::new();
        for text in [self.description.as_deref(), self.category.as_deref()]
            .into_iter()
            .flatten()
        {
            push_line(&mut body, text);
        }
        for node in &self.nodes {
            push_line(&mut body, &node.title);
            for text in [
                node.body.as_deref(),
                node.expected.as_deref(),
                node.warning.as_deref(),
            ]
            .into_iter()
            .flatten()
            {
                push_line(&mut body, text);
            }
            for answer in node.answers() {
                push_line(&mut body, &answer.label);
            }
            for command in &node.commands {
                push_line(&mut commands, &command.label);
                push_line(&mut commands, &command.code);
            }
        }
        SearchDocument {
            title: self.title.clone(),
            body,
            commands,
            tags: self.tags.join(" "),
        }
    }
}

/// The text of one flow split the way the full-text index weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDocument {
    pub title: String,
    pub body: String,
    pub commands: String,
    pub tags: String,
}

fn push_line(buffer: &mut String, text: &str) {
    if !buffer.is_empty() {
        buffer.push('\n');
    }
    buffer.push_str(text);
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Names of `{{variable}}` placeholders in a text, in order of appearance (with repeats).
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let open = rest.find("{{")?;
            let after = &rest[open + 2..];
            let close = after.find("}}")?;
            let name = after[..close].trim();
            rest = &after[close + 2..];
            if !name.is_empty() {
                return Some(name);
            }
        }
    })
}

/// Replaces `{{name}}` with the variable's value. Unknown names stay as written so a missing
/// value is visible in the note rather than silently blank.
pub fn substitute(text: &str, variables: &BTreeMap<String, String>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        output.push_str(&rest[..open]);
        let name = after[..close].trim();
        match variables.get(name) {
            Some(value) => output.push_str(value),
            None => output.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    output.push_str(rest);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "format": "resolutionflow/v1",
      "kind": "troubleshooting",
      "title": "User cannot open a mapped drive",
      "category": "File services",
      "tags": ["smb", "drive-map"],
      "intake": [{"name": "server", "label": "File server", "required": true}],
      "start": "reach",
      "x-future": {"keep": [1, 2]},
      "nodes": [
        {"id": "reach", "type": "question", "title": "Does {{server}} answer on port 445?",
         "commands": [{"label": "Test SMB", "language": "powershell",
                       "code": "Test-NetConnection {{server}} -Port 445", "x-shell": "pwsh"}],
         "answers": [{"label": "Yes", "next": "perms"}, {"label": "No", "next": "firewall"}]},
        {"id": "firewall", "type": "action", "title": "Allow SMB from the user's VLAN", "next": "reach",
         "x-owner": "network team"},
        {"id": "perms", "type": "resolution", "title": "Grant share and NTFS permissions",
         "outcome": "resolved"}
      ]
    }"#;

    #[test]
    fn parses_the_format_documents_example() {
        let flow = Flow::parse(EXAMPLE).unwrap();
        assert_eq!(flow.title, "User cannot open a mapped drive");
        assert_eq!(flow.nodes.len(), 3);
        assert_eq!(flow.start_node().unwrap().id, "reach");
        assert_eq!(flow.node("perms").unwrap().outcome, Some(Outcome::Resolved));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let flow = Flow::parse(EXAMPLE).unwrap();
        let written = flow.to_json_pretty();
        assert!(written.contains("x-future"));
        assert!(written.contains("x-owner"));
        assert!(written.contains("x-shell"));
        let again = Flow::parse(&written).unwrap();
        assert_eq!(flow, again);
        let original: Value = serde_json::from_str(EXAMPLE).unwrap();
        let rewritten: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(original, rewritten, "no field added, dropped or changed");
    }

    #[test]
    fn malformed_nodes_are_all_reported_with_their_ids() {
        let text = r#"{"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "t",
            "start": "a",
            "nodes": [
              {"id": "a", "type": "teleport", "title": "x"},
              {"id": "b", "type": "action", "title": 5},
              {"id": "c", "type": "resolution", "title": "ok", "outcome": "resolved"}
            ]}"#;
        let error = Flow::parse(text).unwrap_err();
        let located: Vec<String> = error
            .problems
            .iter()
            .map(|problem| problem.location.to_string())
            .collect();
        assert_eq!(located, vec!["a", "b"]);
    }

    #[test]
    fn invalid_json_reports_line_and_column() {
        let error = Flow::parse("{\n  \"format\": ,\n}").unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert!(error.problems[0].message.contains("line 2"), "{error}");
    }

    #[test]
    fn substitution_fills_known_and_keeps_unknown_variables() {
        let variables = BTreeMap::from([("server".to_owned(), "fs01".to_owned())]);
        assert_eq!(
            substitute("ping {{server}} and {{ other }} {{", &variables),
            "ping fs01 and {{ other }} {{"
        );
        assert_eq!(
            placeholders("{{a}} x {{ b }} {{}} {{a}}").collect::<Vec<_>>(),
            vec!["a", "b", "a"]
        );
    }
}
