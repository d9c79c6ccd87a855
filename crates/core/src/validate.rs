//! Flow validation: every problem in a flow at once, each tied to the node it concerns.
//!
//! The rules are FLOW-FORMAT.md's "Validation" list plus the per-type requirements of its node
//! table. Validation never stops at the first problem: an author fixing a flow wants the whole list.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::flow::{FORMAT_V1, Flow, FlowKind, Node, NodeKind, placeholders};

/// Where a problem is: the flow as a whole, or one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "node")]
pub enum ProblemLocation {
    Flow,
    Node(String),
}

impl fmt::Display for ProblemLocation {
    /// Node ids cannot contain parentheses, so `(flow)` can never be mistaken for a node.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemLocation::Flow => f.write_str("(flow)"),
            ProblemLocation::Node(id) => f.write_str(id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub location: ProblemLocation,
    pub message: String,
}

impl Problem {
    pub fn new(location: ProblemLocation, message: impl Into<String>) -> Problem {
        Problem {
            location,
            message: message.into(),
        }
    }

    fn flow(message: impl Into<String>) -> Problem {
        Problem::new(ProblemLocation::Flow, message)
    }

    fn node(id: &str, message: impl Into<String>) -> Problem {
        Problem::new(ProblemLocation::Node(id.to_owned()), message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

pub const MAX_TITLE_CHARS: usize = 200;

/// `[a-z0-9][a-z0-9-]*`, written out because it is on the import hot path.
pub fn is_valid_node_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `[a-z_][a-z0-9_]*` for intake variable names.
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(first) if first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks a parsed flow and returns every problem found (empty when the flow is valid).
pub fn validate(flow: &Flow) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_header(flow, &mut problems);
    let ids = check_node_ids(flow, &mut problems);
    for node in &flow.nodes {
        check_node(flow, node, &ids, &mut problems);
    }
    check_intake(flow, &mut problems);
    if flow.kind == FlowKind::Troubleshooting {
        check_graph(flow, &ids, &mut problems);
    }
    problems
}

fn check_header(flow: &Flow, problems: &mut Vec<Problem>) {
    if flow.format != FORMAT_V1 {
        problems.push(Problem::flow(format!(
            "`format` is {:?}; this version reads {FORMAT_V1:?}",
            flow.format
        )));
    }
    let title_chars = flow.title.trim().chars().count();
    if title_chars == 0 {
        problems.push(Problem::flow("`title` is empty; give the flow a title"));
    } else if flow.title.chars().count() > MAX_TITLE_CHARS {
        problems.push(Problem::flow(format!(
            "`title` is {} characters; the limit is {MAX_TITLE_CHARS}",
            flow.title.chars().count()
        )));
    }
    if flow.nodes.is_empty() {
        problems.push(Problem::flow("the flow has no nodes"));
    }
    match (&flow.start, flow.kind) {
        (None, FlowKind::Troubleshooting) => problems.push(Problem::flow(
            "troubleshooting flows need `start`, the id of the first node",
        )),
        (Some(start), _) if !flow.nodes.iter().any(|node| &node.id == start) => {
            problems.push(Problem::flow(format!(
                "`start` names node {start:?}, which does not exist"
            )))
        }
        _ => {}
    }
}

/// Reports malformed and duplicate ids; returns the set of ids that exist.
fn check_node_ids<'a>(flow: &'a Flow, problems: &mut Vec<Problem>) -> BTreeSet<&'a str> {
    let mut ids = BTreeSet::new();
    for node in &flow.nodes {
        if !is_valid_node_id(&node.id) {
            problems.push(Problem::node(
                &node.id,
                "node id must match [a-z0-9][a-z0-9-]* (lowercase letters, digits, dashes)",
            ));
        }
        if !ids.insert(node.id.as_str()) {
            problems.push(Problem::node(
                &node.id,
                "duplicate node id; every node needs its own id",
            ));
        }
    }
    ids
}

fn check_node(flow: &Flow, node: &Node, ids: &BTreeSet<&str>, problems: &mut Vec<Problem>) {
    let id = node.id.as_str();
    if node.title.trim().is_empty() {
        problems.push(Problem::node(id, "node title is empty"));
    }
    let allowed = match flow.kind {
        FlowKind::Troubleshooting => matches!(
            node.kind,
            NodeKind::Question | NodeKind::Action | NodeKind::Resolution | NodeKind::Subflow
        ),
        FlowKind::Procedural | FlowKind::Maintenance => matches!(
            node.kind,
            NodeKind::Section | NodeKind::Step | NodeKind::Subflow
        ),
    };
    if !allowed {
        let hint = if flow.kind.is_checklist() {
            "use section and step nodes (a step may branch with answers)"
        } else {
            "use question, action, resolution and subflow nodes"
        };
        problems.push(Problem::node(
            id,
            format!(
                "a {} node does not belong in a {} flow; {hint}",
                node.kind, flow.kind
            ),
        ));
    }
    let check_target = |target: &str, what: &str, problems: &mut Vec<Problem>| {
        if !ids.contains(target) {
            problems.push(Problem::node(
                id,
                format!("{what} names node {target:?}, which does not exist"),
            ));
        }
    };
    if let Some(next) = &node.next {
        check_target(next, "`next`", problems);
    }
    for (index, answer) in node.answers().iter().enumerate() {
        if answer.label.trim().is_empty() {
            problems.push(Problem::node(
                id,
                format!("answer {} has an empty label", index + 1),
            ));
        }
        check_target(
            &answer.next,
            &format!("answer {:?}", answer.label),
            problems,
        );
    }
    match node.kind {
        NodeKind::Question if node.answers().is_empty() => {
            problems.push(Problem::node(
                id,
                "question without answers; add at least one",
            ));
        }
        NodeKind::Action if node.next.is_none() => {
            problems.push(Problem::node(
                id,
                "action without `next`; say where to go after it",
            ));
        }
        NodeKind::Resolution if node.outcome.is_none() => problems.push(Problem::node(
            id,
            "resolution without `outcome` (resolved, workaround, escalated or unresolved)",
        )),
        NodeKind::Subflow => {
            match node.flow.as_deref() {
                None => problems.push(Problem::node(
                    id,
                    "subflow without `flow`, the id of the flow to run",
                )),
                Some(target) if uuid::Uuid::parse_str(target).is_err() => {
                    problems.push(Problem::node(
                        id,
                        format!("subflow `flow` {target:?} is not a flow id (UUID)"),
                    ));
                }
                Some(target) if flow.id.is_some_and(|own| own.to_string() == target) => {
                    problems.push(Problem::node(id, "a flow cannot run itself as a subflow"));
                }
                Some(_) => {}
            }
            if node.next.is_none() && !flow.kind.is_checklist() {
                problems.push(Problem::node(
                    id,
                    "subflow without `next`; say where to continue after it",
                ));
            }
        }
        _ => {}
    }
    for link in &node.links {
        let lower = link.url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            problems.push(Problem::node(
                id,
                format!(
                    "link {:?} is not an http(s) URL: {:?}",
                    link.title, link.url
                ),
            ));
        }
    }
}

fn check_intake(flow: &Flow, problems: &mut Vec<Problem>) {
    let mut declared = BTreeSet::new();
    for field in &flow.intake {
        if !is_valid_variable_name(&field.name) {
            problems.push(Problem::flow(format!(
                "intake variable {:?} must match [a-z_][a-z0-9_]*",
                field.name
            )));
        }
        if !declared.insert(field.name.as_str()) {
            problems.push(Problem::flow(format!(
                "intake variable {:?} is declared twice",
                field.name
            )));
        }
    }
    if let Some(target) = &flow.target {
        if flow.kind == FlowKind::Troubleshooting {
            problems.push(Problem::flow(
                "`target` is for maintenance and procedural flows (one session per target of a batch); remove it from a troubleshooting flow",
            ));
        } else if !declared.contains(target.as_str()) {
            problems.push(Problem::flow(format!(
                "`target` names {target:?}, which is not declared in `intake`; declare it there or name another variable"
            )));
        }
    }
    let header_texts = [flow.description.as_deref()];
    for text in header_texts
        .into_iter()
        .flatten()
        .chain([flow.title.as_str()])
    {
        for name in placeholders(text) {
            if !declared.contains(name) {
                problems.push(Problem::flow(format!(
                    "{{{{{name}}}}} is used but not declared in `intake`"
                )));
            }
        }
    }
    for node in &flow.nodes {
        let undeclared: BTreeSet<&str> = node
            .texts()
            .flat_map(placeholders)
            .filter(|name| !declared.contains(name))
            .collect();
        for name in undeclared {
            problems.push(Problem::node(
                &node.id,
                format!("{{{{{name}}}}} is used but not declared in `intake`"),
            ));
        }
    }
}

/// Reachability from `start` and whether any resolution can be reached at all.
fn check_graph(flow: &Flow, ids: &BTreeSet<&str>, problems: &mut Vec<Problem>) {
    let Some(start) = flow.start.as_deref().filter(|start| ids.contains(start)) else {
        return;
    };
    let by_id: BTreeMap<&str, &Node> = flow
        .nodes
        .iter()
        .map(|node| (node.id.as_str(), node))
        .collect();
    let mut reached = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(id) = queue.pop_front() {
        let Some(node) = by_id.get(id) else { continue };
        let targets = node
            .next
            .iter()
            .map(String::as_str)
            .chain(node.answers().iter().map(|answer| answer.next.as_str()));
        for target in targets {
            if ids.contains(target) && reached.insert(target) {
                queue.push_back(target);
            }
        }
    }
    let mut reported = BTreeSet::new();
    for node in &flow.nodes {
        if !reached.contains(node.id.as_str()) && reported.insert(node.id.as_str()) {
            problems.push(Problem::node(
                &node.id,
                "unreachable: no path from `start` leads here",
            ));
        }
    }
    let resolution_reachable = reached
        .iter()
        .filter_map(|id| by_id.get(id))
        .any(|node| node.kind == NodeKind::Resolution);
    if !resolution_reachable {
        problems.push(Problem::flow(
            "no resolution node is reachable from `start`; every path would end nowhere",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn troubleshooting(nodes: serde_json::Value) -> serde_json::Value {
        json!({
            "format": "resolutionflow/v1", "kind": "troubleshooting", "title": "T",
            "intake": [{"name": "server", "label": "Server"}],
            "start": "a", "nodes": nodes
        })
    }

    fn problems_of(document: serde_json::Value) -> Vec<String> {
        match Flow::parse(&document.to_string()) {
            Ok(_) => Vec::new(),
            Err(error) => error.problems.iter().map(ToString::to_string).collect(),
        }
    }

    /// Each case: a flow document and the problems it must produce (substring per problem, in
    /// order). An empty list means the document is valid.
    #[test]
    fn validation_cases() {
        let resolution =
            json!({"id": "done", "type": "resolution", "title": "Done", "outcome": "resolved"});
        let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
            (
                "valid minimal",
                troubleshooting(json!([
                    {"id": "a", "type": "action", "title": "Ping {{server}}", "next": "done"},
                    resolution.clone()
                ])),
                vec![],
            ),
            (
                "duplicate id",
                troubleshooting(json!([
                    {"id": "a", "type": "action", "title": "A", "next": "done"},
                    {"id": "a", "type": "action", "title": "A again", "next": "done"},
                    resolution.clone()
                ])),
                vec!["a: duplicate node id"],
            ),
            (
                "dangling next and answer",
                troubleshooting(json!([
                    {"id": "a", "type": "question", "title": "Q",
                     "answers": [{"label": "Yes", "next": "done"}, {"label": "No", "next": "nowhere"}]},
                    {"id": "b", "type": "action", "title": "B", "next": "ghost"},
                    resolution.clone()
                ])),
                vec![
                    "a: answer \"No\" names node \"nowhere\"",
                    "b: `next` names node \"ghost\"",
                    "b: unreachable",
                ],
            ),
            (
                "dangling start",
                json!({"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "T",
                       "start": "zzz", "nodes": [resolution.clone()]}),
                vec!["(flow): `start` names node \"zzz\""],
            ),
            (
                "missing start",
                json!({"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "T",
                       "nodes": [resolution.clone()]}),
                vec!["(flow): troubleshooting flows need `start`"],
            ),
            (
                "question without answers, empty label",
                troubleshooting(json!([
                    {"id": "a", "type": "question", "title": "Q", "answers": [{"label": " ", "next": "done"}]},
                    {"id": "b", "type": "question", "title": "Q2"},
                    resolution.clone()
                ])),
                vec![
                    "a: answer 1 has an empty label",
                    "b: question without answers",
                    "b: unreachable",
                ],
            ),
            (
                "no resolution reachable",
                troubleshooting(json!([
                    {"id": "a", "type": "action", "title": "A", "next": "b"},
                    {"id": "b", "type": "action", "title": "B", "next": "a"}
                ])),
                vec!["(flow): no resolution node is reachable"],
            ),
            (
                "undeclared and twice-declared variables",
                json!({"format": "resolutionflow/v1", "kind": "troubleshooting", "title": "Fix {{client}}",
                "intake": [{"name": "server", "label": "S"}, {"name": "server", "label": "S2"}],
                "start": "a",
                "nodes": [
                  {"id": "a", "type": "action", "title": "Ping {{server}}", "next": "done",
                   "commands": [{"label": "c", "language": "cmd", "code": "ping {{host}}"}]},
                  resolution.clone()
                ]}),
                vec![
                    "(flow): intake variable \"server\" is declared twice",
                    "(flow): {{client}} is used but not declared",
                    "a: {{host}} is used but not declared",
                ],
            ),
            (
                "non-http link",
                troubleshooting(json!([
                    {"id": "a", "type": "action", "title": "A", "next": "done",
                     "links": [{"title": "KB", "url": "javascript:alert(1)"},
                               {"title": "ok", "url": "https://learn.microsoft.com"}]},
                    resolution.clone()
                ])),
                vec!["a: link \"KB\" is not an http(s) URL"],
            ),
            (
                "bad ids, empty title, wrong format",
                json!({"format": "resolutionflow/v9", "kind": "troubleshooting", "title": "  ",
                "start": "A", "nodes": [
                  {"id": "A", "type": "action", "title": "x", "next": "done"}, resolution.clone()
                ]}),
                vec![
                    "(flow): `format` is \"resolutionflow/v9\"",
                    "(flow): `title` is empty",
                    "A: node id must match",
                ],
            ),
            (
                "type requirements",
                troubleshooting(json!([
                    {"id": "a", "type": "action", "title": "A"},
                    {"id": "b", "type": "resolution", "title": "B"},
                    {"id": "c", "type": "subflow", "title": "C", "flow": "not-a-uuid"},
                    {"id": "d", "type": "step", "title": "D"}
                ])),
                vec![
                    "a: action without `next`",
                    "b: resolution without `outcome`",
                    "c: subflow `flow` \"not-a-uuid\" is not a flow id",
                    "c: subflow without `next`",
                    "d: a step node does not belong in a troubleshooting flow",
                    "b: unreachable",
                    "c: unreachable",
                    "d: unreachable",
                    "(flow): no resolution node is reachable",
                ],
            ),
            (
                "checklist with branching step and a stray question",
                json!({"format": "resolutionflow/v1", "kind": "maintenance", "title": "Patch",
                "nodes": [
                  {"id": "pre", "type": "section", "title": "Pre-checks"},
                  {"id": "health", "type": "step", "title": "Healthy?",
                   "answers": [{"label": "Yes", "next": "post"}, {"label": "No", "next": "rollback"}]},
                  {"id": "q", "type": "question", "title": "Q", "answers": [{"label": "x", "next": "post"}]},
                  {"id": "post", "type": "step", "title": "Post",
                   "verify": {"kind": "text", "prompt": "KBs installed"}}
                ]}),
                vec![
                    "health: answer \"No\" names node \"rollback\"",
                    "q: a question node does not belong in a maintenance flow",
                ],
            ),
            (
                "title too long",
                json!({"format": "resolutionflow/v1", "kind": "procedural", "title": "x".repeat(201),
                       "nodes": [{"id": "s", "type": "step", "title": "S"}]}),
                vec!["(flow): `title` is 201 characters"],
            ),
        ];
        for (name, document, expected) in cases {
            let actual = problems_of(document);
            assert_eq!(
                actual.len(),
                expected.len(),
                "case {name:?}: expected {expected:#?}, got {actual:#?}"
            );
            for (got, want) in actual.iter().zip(&expected) {
                assert!(
                    got.starts_with(want),
                    "case {name:?}: {got:?} should start with {want:?}"
                );
            }
        }
    }

    #[test]
    fn id_and_variable_patterns() {
        for (id, ok) in [
            ("a", true),
            ("0-b", true),
            ("-a", false),
            ("aB", false),
            ("", false),
        ] {
            assert_eq!(is_valid_node_id(id), ok, "{id:?}");
        }
        for (name, ok) in [
            ("server", true),
            ("_x1", true),
            ("1x", false),
            ("a-b", false),
        ] {
            assert_eq!(is_valid_variable_name(name), ok, "{name:?}");
        }
    }
}
