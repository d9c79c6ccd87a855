//! What the engineer sees: the current step with its variables filled in.

use super::*;

/// The step in front of the engineer, with variables filled in, ready to display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub flow: FlowRef,
    pub flow_title: String,
    pub flow_kind: FlowKind,
    /// Subflow depth: 0 in the session's own flow.
    pub depth: usize,
    /// `None` when a checklist is complete.
    pub node: Option<Node>,
    pub choices: Vec<String>,
    /// For checklists: items done and items in all.
    pub progress: Option<(usize, usize)>,
    pub can_go_back: bool,
}

/// Builds the view of the current step.
pub fn current_step(state: &SessionState, flows: &FlowSet) -> Result<StepView> {
    let cursor = state
        .current_cursor()
        .ok_or_else(|| EngineError::NotHere("no flow is open".into()))?;
    let flow = flows
        .get(cursor.flow)
        .ok_or(EngineError::MissingFlowVersion {
            flow_id: cursor.flow.flow_id,
            version: cursor.flow.version,
        })?;
    let node = match &cursor.node {
        Some(id) => Some(flow.node(id).ok_or_else(|| EngineError::MissingNode {
            node: id.clone(),
            flow_title: flow.title.clone(),
        })?),
        None => None,
    };
    let progress = flow
        .kind
        .is_checklist()
        .then(|| checklist_progress(state, cursor.flow, flow));
    let choices = match node {
        Some(node) => choices_at(node, state.position.len()),
        None if state.position.len() >= 2 => vec!["Return to the previous flow".to_owned()],
        None => Vec::new(),
    };
    Ok(StepView {
        flow: cursor.flow,
        flow_title: substitute(&flow.title, &state.variables),
        flow_kind: flow.kind,
        depth: state.position.len().saturating_sub(1),
        node: node.map(|node| substitute_node(node, &state.variables)),
        choices,
        progress,
        can_go_back: !state.history.is_empty(),
    })
}

/// Items of the checklist `flow` (version `reference`) done in `state`, and items in all.
pub fn checklist_progress(state: &SessionState, reference: FlowRef, flow: &Flow) -> (usize, usize) {
    let items: Vec<&Node> = flow
        .nodes
        .iter()
        .filter(|node| matches!(node.kind, NodeKind::Step | NodeKind::Subflow))
        .collect();
    let done = items
        .iter()
        .filter(|node| state.is_ticked(reference, &node.id))
        .count();
    (done, items.len())
}

/// A copy of `node` with `{{variables}}` filled in everywhere a person reads.
pub fn substitute_node(node: &Node, variables: &BTreeMap<String, String>) -> Node {
    let fill = |text: &str| substitute(text, variables);
    let mut filled = node.clone();
    filled.title = fill(&node.title);
    filled.body = node.body.as_deref().map(fill);
    filled.expected = node.expected.as_deref().map(fill);
    filled.warning = node.warning.as_deref().map(fill);
    for command in &mut filled.commands {
        command.label = fill(&command.label);
        command.code = fill(&command.code);
    }
    for link in &mut filled.links {
        link.title = fill(&link.title);
    }
    if let Some(verify) = &mut filled.verify {
        verify.prompt = fill(&verify.prompt);
    }
    if let Some(answers) = &mut filled.answers {
        for answer in answers {
            answer.label = fill(&answer.label);
        }
    }
    filled
}
