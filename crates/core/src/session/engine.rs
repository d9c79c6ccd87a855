//! The navigation engine: an engineer's command decided into new events against the state
//! and the flow documents, or an error that changes nothing; with the limits it holds to.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the session has no events; a session begins with a `started` event")]
    Empty,
    #[error("event {index} is a second `started` event; the log is corrupt")]
    StartedTwice { index: usize },
    #[error("the first event is `{name}`, not `started`; the log is corrupt")]
    NotStarted { name: &'static str },
    #[error("event {index} ({name}) cannot apply here: {reason}; the log is corrupt")]
    Inconsistent {
        index: usize,
        name: &'static str,
        reason: String,
    },
    #[error("the session is finished; start a new session to record more work")]
    Finished,
    #[error("flow {flow_id} is not in the local library; sync or import it first")]
    MissingFlow { flow_id: Uuid },
    #[error(
        "flow {flow_id} version {} is not in the local library; sync or import it first", .version.short()
    )]
    MissingFlowVersion { flow_id: Uuid, version: VersionId },
    #[error(
        "subflow {flow_id} (run by node {node:?}) is not in the local library; import that flow first"
    )]
    MissingSubflow { flow_id: Uuid, node: String },
    #[error("node {node:?} does not exist in flow {flow_title:?}")]
    MissingNode { node: String, flow_title: String },
    #[error("missing required intake value(s): {}; pass them with --var name=value", .0.join(", "))]
    MissingVariables(Vec<String>),
    #[error("unknown intake variable(s): {}; this flow asks for: {}", .unknown.join(", "), .known.join(", "))]
    UnknownVariables {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error("the flow has no step to start at")]
    NoStartNode,
    #[error("subflows nest more than {MAX_SUBFLOW_DEPTH} deep (a subflow cycle?); fix the flows")]
    SubflowTooDeep,
    #[error("{0:?} is not one of the choices here: {1}")]
    NoSuchChoice(String, String),
    #[error("{0}")]
    NotHere(String),
    #[error("already at the first step; there is nothing to go back to")]
    NothingToGoBack,
    #[error("{0} is empty; write something")]
    EmptyText(&'static str),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Subflows may nest, but a cycle of flows running each other must stop somewhere.
pub const MAX_SUBFLOW_DEPTH: usize = 8;

/// Largest note or pasted output the engine accepts, in bytes. Command output beyond this
/// belongs in an attachment.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// What an engineer asks a session to do (the app sends these as JSON, tagged by `type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Choose an answer (or "Done" on an action or step) by 0-based index or label.
    Answer {
        choice: Choice,
    },
    Note {
        text: String,
    },
    PasteOutput {
        text: String,
    },
    Attach {
        attachment: AttachmentRef,
    },
    Back,
    CustomStep {
        title: String,
    },
    Tick {
        node: String,
        value: Option<String>,
    },
    Finish {
        outcome: Outcome,
        summary: Option<String>,
        next_steps: Option<String>,
    },
    /// Hand the session to a teammate (checked against the team by the caller).
    HandOff {
        to_user: Uuid,
        to_email: String,
        note: Option<String>,
    },
}

/// An answer by 0-based index (a JSON number) or by label (a JSON string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Choice {
    Index(usize),
    Label(String),
}

impl Choice {
    /// Reads a CLI-style choice: a 1-based number, or a label in any case.
    pub fn parse(text: &str) -> Choice {
        match text.trim().parse::<usize>() {
            Ok(number) if number >= 1 => Choice::Index(number - 1),
            _ => Choice::Label(text.trim().to_owned()),
        }
    }
}

/// What a new session needs besides the flow.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartRequest {
    pub ticket: String,
    pub client: String,
    pub engineer: String,
    pub variables: BTreeMap<String, String>,
}

/// The intake fields a session of `flow` asks for: its own, then those of every subflow it may
/// run (transitively), first declaration winning.
pub fn intake_fields<'a>(flows: &'a FlowSet, flow: &'a Flow) -> Vec<&'a IntakeField> {
    let mut fields: Vec<&IntakeField> = Vec::new();
    let mut seen_flows = BTreeSet::new();
    let mut pending = vec![flow];
    while let Some(current) = pending.pop() {
        for field in &current.intake {
            if !fields.iter().any(|known| known.name == field.name) {
                fields.push(field);
            }
        }
        for target in current.subflow_targets() {
            if let Ok(id) = Uuid::parse_str(target)
                && seen_flows.insert(id)
                && let Some((_, subflow)) = flows.latest(id)
            {
                pending.push(subflow);
            }
        }
    }
    fields
}

/// The events that begin a session of `flow` (latest version in `flows`).
pub fn start(flows: &FlowSet, flow_id: Uuid, request: StartRequest) -> Result<Vec<EventKind>> {
    let (reference, flow) = flows
        .latest(flow_id)
        .ok_or(EngineError::MissingFlow { flow_id })?;
    let fields = intake_fields(flows, flow);
    let unknown: Vec<String> = request
        .variables
        .keys()
        .filter(|name| !fields.iter().any(|field| &field.name == *name))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<String> = fields.iter().map(|field| field.name.clone()).collect();
        if known.is_empty() {
            known.push("(nothing)".into());
        }
        return Err(EngineError::UnknownVariables { unknown, known });
    }
    let mut variables = BTreeMap::new();
    let mut missing = Vec::new();
    for field in fields {
        let given = request
            .variables
            .get(&field.name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty());
        match (given, &field.default) {
            (Some(value), _) => {
                variables.insert(field.name.clone(), value.to_owned());
            }
            (None, Some(default)) => {
                variables.insert(field.name.clone(), default.clone());
            }
            (None, None) if field.required => {
                missing.push(format!("{} ({})", field.name, field.label));
            }
            (None, None) => {}
        }
    }
    if !missing.is_empty() {
        return Err(EngineError::MissingVariables(missing));
    }
    let started = EventKind::Started {
        flow: reference,
        flow_title: substitute(&flow.title, &variables),
        flow_kind: flow.kind,
        ticket: request.ticket.trim().to_owned(),
        client: request.client.trim().to_owned(),
        engineer: request.engineer.trim().to_owned(),
        variables: variables.clone(),
        batch: None,
    };
    let first = entry_node(flow).ok_or(EngineError::NoStartNode)?;
    let mut navigator = Navigator::new(flows, &variables, None);
    navigator.stack.push(Cursor {
        flow: reference,
        flow_kind: flow.kind,
        node: None,
    });
    navigator.enter(first)?;
    let mut events = vec![started];
    events.append(&mut navigator.events);
    Ok(events)
}

/// The events one command produces, or an error that leaves the session as it was.
pub fn decide(state: &SessionState, flows: &FlowSet, command: Command) -> Result<Vec<EventKind>> {
    if state.is_finished() {
        return Err(EngineError::Finished);
    }
    let navigator = Navigator::new(flows, &state.variables, Some(state));
    match command {
        Command::Answer { choice } => navigator.answer(choice),
        Command::Note { text } => Ok(vec![EventKind::NoteAdded {
            text: checked_text(text, "the note")?,
        }]),
        Command::PasteOutput { text } => Ok(vec![EventKind::OutputPasted {
            text: checked_text(text, "the pasted output")?,
        }]),
        Command::Attach { attachment } => Ok(vec![EventKind::AttachmentAdded { attachment }]),
        Command::Back => {
            let previous = state.history.last().ok_or(EngineError::NothingToGoBack)?;
            let to_node = previous.last().and_then(|cursor| cursor.node.clone());
            let to_title = match previous.last() {
                Some(Cursor {
                    flow,
                    node: Some(node),
                    ..
                }) => flows
                    .get(*flow)
                    .and_then(|document| document.node(node))
                    .map(|found| substitute(&found.title, &state.variables))
                    .unwrap_or_else(|| node.clone()),
                _ => String::new(),
            };
            Ok(vec![EventKind::WentBack { to_node, to_title }])
        }
        Command::CustomStep { title } => Ok(vec![EventKind::CustomStepInserted {
            title: checked_text(title, "the custom step's title")?,
        }]),
        Command::Tick { node, value } => navigator.tick(&node, value),
        Command::Finish {
            outcome,
            summary,
            next_steps,
        } => Ok(vec![EventKind::Finished {
            outcome,
            summary: summary.filter(|text| !text.trim().is_empty()),
            next_steps: next_steps.filter(|text| !text.trim().is_empty()),
        }]),
        Command::HandOff {
            to_user,
            to_email,
            note,
        } => Ok(vec![EventKind::HandedOff {
            to_user,
            to_email: checked_text(to_email, "the teammate's e-mail")?,
            note: note
                .filter(|text| !text.trim().is_empty())
                .map(|text| checked_text(text, "the hand-off note"))
                .transpose()?,
        }]),
    }
}

fn checked_text(text: String, what: &'static str) -> Result<String> {
    if text.trim().is_empty() {
        return Err(EngineError::EmptyText(what));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(EngineError::NotHere(format!(
            "{what} is {} bytes; the limit is {MAX_TEXT_BYTES} — attach it as a file instead",
            text.len()
        )));
    }
    Ok(text)
}

/// The first step (or subflow) of a checklist at or after `from`, skipping sections and, when
/// `ticked` is given, items already done.
fn first_actionable<'a>(
    flow: &'a Flow,
    from: usize,
    ticked: Option<&BTreeMap<String, Option<String>>>,
) -> Option<&'a Node> {
    flow.nodes.iter().skip(from).find(|node| {
        node.kind != NodeKind::Section && !ticked.is_some_and(|done| done.contains_key(&node.id))
    })
}

/// Where a session of `flow` begins: `start` for graphs; for checklists `start` if given, else
/// the first item (sections are headings, not places to stand).
fn entry_node(flow: &Flow) -> Option<&Node> {
    match flow.kind {
        FlowKind::Troubleshooting => flow.start_node(),
        _ => {
            let from = flow
                .start
                .as_deref()
                .and_then(|start| flow.nodes.iter().position(|node| node.id == start))
                .unwrap_or(0);
            first_actionable(flow, from, None)
        }
    }
}

/// Works out the events of one command by simulating the position stack and the ticks as the
/// events would change them, so nested subflows return correctly however deep they are.
struct Navigator<'a> {
    flows: &'a FlowSet,
    variables: &'a BTreeMap<String, String>,
    stack: Vec<Cursor>,
    ticked: BTreeMap<FlowRef, BTreeMap<String, Option<String>>>,
    events: Vec<EventKind>,
}

impl<'a> Navigator<'a> {
    fn new(
        flows: &'a FlowSet,
        variables: &'a BTreeMap<String, String>,
        state: Option<&SessionState>,
    ) -> Self {
        Navigator {
            flows,
            variables,
            stack: state
                .map(|state| state.position.clone())
                .unwrap_or_default(),
            ticked: state.map(|state| state.ticked.clone()).unwrap_or_default(),
            events: Vec::new(),
        }
    }

    fn flow(&self, reference: FlowRef) -> Result<&'a Flow> {
        self.flows
            .get(reference)
            .ok_or(EngineError::MissingFlowVersion {
                flow_id: reference.flow_id,
                version: reference.version,
            })
    }

    fn top(&self) -> Result<&Cursor> {
        self.stack
            .last()
            .ok_or_else(|| EngineError::NotHere("no flow is open".into()))
    }

    fn record_tick(&mut self, node: &Node, value: Option<String>) -> Result<()> {
        let flow = self.top()?.flow;
        self.ticked
            .entry(flow)
            .or_default()
            .insert(node.id.clone(), value.clone());
        self.events.push(EventKind::ItemTicked {
            node: node.id.clone(),
            title: substitute(&node.title, self.variables),
            value,
        });
        Ok(())
    }

    /// Moves onto `node` of the top flow, entering subflows as needed.
    fn enter(&mut self, node: &Node) -> Result<()> {
        if node.kind != NodeKind::Subflow {
            self.events.push(EventKind::StepEntered {
                node: node.id.clone(),
                node_kind: node.kind,
                title: substitute(&node.title, self.variables),
            });
            if let Some(top) = self.stack.last_mut() {
                top.node = Some(node.id.clone());
            }
            return Ok(());
        }
        if self.stack.len() >= MAX_SUBFLOW_DEPTH {
            return Err(EngineError::SubflowTooDeep);
        }
        let target = node
            .flow
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_default();
        let (reference, subflow) =
            self.flows
                .latest(target)
                .ok_or_else(|| EngineError::MissingSubflow {
                    flow_id: target,
                    node: node.id.clone(),
                })?;
        self.events.push(EventKind::SubflowEntered {
            node: node.id.clone(),
            flow: reference,
            flow_title: substitute(&subflow.title, self.variables),
            flow_kind: subflow.kind,
        });
        if let Some(top) = self.stack.last_mut() {
            top.node = Some(node.id.clone());
        }
        self.stack.push(Cursor {
            flow: reference,
            flow_kind: subflow.kind,
            node: None,
        });
        let first = entry_node(subflow).ok_or(EngineError::NoStartNode)?;
        self.enter(first)
    }

    /// Returns from the innermost subflow and moves on in the parent.
    fn leave_subflow(&mut self) -> Result<()> {
        if self.stack.len() < 2 {
            return Err(EngineError::NotHere(
                "this is the end of the flow: finish the session with an outcome (rf session finish)"
                    .into(),
            ));
        }
        let left = self.top()?.flow;
        self.events.push(EventKind::SubflowLeft {
            flow: left,
            completed: true,
        });
        self.stack.pop();
        let parent = self.top()?.clone();
        let parent_flow = self.flow(parent.flow)?;
        let subflow_node = parent
            .node
            .as_deref()
            .and_then(|id| parent_flow.node(id))
            .ok_or_else(|| EngineError::NotHere("the parent flow lost its subflow node".into()))?;
        self.ticked
            .entry(parent.flow)
            .or_default()
            .insert(subflow_node.id.clone(), None);
        match subflow_node.next.as_deref() {
            Some(next) => {
                let target = node_of(parent_flow, next)?;
                self.enter(target)
            }
            None => self.advance_checklist(subflow_node),
        }
    }

    /// After `done` in the top checklist: the next undone item after it, else the checklist is
    /// at its end (and a subflow returns to its parent). Items before `done` that are still
    /// undone were skipped by a branch (a remediation step after a passed health check) or left
    /// for later on purpose; they stay tickable by id but are not offered again.
    fn advance_checklist(&mut self, done: &Node) -> Result<()> {
        let top = self.top()?.flow;
        let flow = self.flow(top)?;
        let after = flow
            .nodes
            .iter()
            .position(|node| node.id == done.id)
            .map_or(0, |index| index + 1);
        let ticked = self.ticked.get(&top).cloned().unwrap_or_default();
        let next = first_actionable(flow, after, Some(&ticked));
        match next {
            Some(node) => self.enter(node),
            None if self.stack.len() >= 2 => self.leave_subflow(),
            None => {
                self.events.push(EventKind::ChecklistCompleted {});
                if let Some(top) = self.stack.last_mut() {
                    top.node = None;
                }
                Ok(())
            }
        }
    }

    /// A branch in a checklist jumps to `target` (or the first item after a section).
    fn goto_checklist(&mut self, target: &str) -> Result<()> {
        let flow = self.flow(self.top()?.flow)?;
        let index = flow
            .nodes
            .iter()
            .position(|node| node.id == target)
            .ok_or_else(|| missing_node(flow, target))?;
        match first_actionable(flow, index, None) {
            Some(node) => self.enter(node),
            None if self.stack.len() >= 2 => self.leave_subflow(),
            None => {
                self.events.push(EventKind::ChecklistCompleted {});
                Ok(())
            }
        }
    }

    fn current_node(&self) -> Result<(FlowRef, &'a Flow, Option<&'a Node>)> {
        let cursor = self.top()?;
        let flow = self.flow(cursor.flow)?;
        let node = match cursor.node.as_deref() {
            Some(id) => Some(node_of(flow, id)?),
            None => None,
        };
        Ok((cursor.flow, flow, node))
    }

    fn answer(mut self, choice: Choice) -> Result<Vec<EventKind>> {
        let (_, _, node) = self.current_node()?;
        let Some(node) = node else {
            // A complete checklist: the only way on is back to the parent flow.
            self.leave_subflow()?;
            return Ok(self.events);
        };
        if node.kind == NodeKind::Step && node.answers().is_empty() && needs_value(node) {
            return Err(EngineError::NotHere(format!(
                "step {:?} asks \"{}\": record it with tick --value",
                node.id,
                verify_prompt(node)
            )));
        }
        let choices = choices_at(node, self.stack.len());
        if choices.is_empty() {
            return Err(EngineError::NotHere(
                "this is a resolution: finish the session with an outcome (rf session finish)"
                    .into(),
            ));
        }
        let index = match &choice {
            Choice::Index(index) if *index < choices.len() => *index,
            Choice::Label(label) => choices
                .iter()
                .position(|candidate| candidate.eq_ignore_ascii_case(label))
                .ok_or_else(|| no_such_choice(label, &choices))?,
            Choice::Index(index) => return Err(no_such_choice(&(index + 1).to_string(), &choices)),
        };
        let label = choices[index].clone();
        match node.kind {
            NodeKind::Step => {
                let branch = node.answers().get(index);
                self.record_tick(node, branch.map(|_| label))?;
                match branch {
                    Some(branch) => self.goto_checklist(&branch.next)?,
                    None => self.advance_checklist(node)?,
                }
            }
            NodeKind::Resolution => {
                // Offered only inside a subflow: return to the flow that ran it.
                self.events.push(EventKind::AnswerChosen {
                    node: node.id.clone(),
                    answer_index: index,
                    label,
                });
                self.leave_subflow()?;
            }
            _ => {
                self.events.push(EventKind::AnswerChosen {
                    node: node.id.clone(),
                    answer_index: index,
                    label,
                });
                let next = match node.answers().get(index) {
                    Some(answer) => Some(answer.next.as_str()),
                    None => node.next.as_deref(),
                }
                .ok_or_else(|| {
                    EngineError::NotHere(format!("node {:?} has nowhere to go next", node.id))
                })?;
                let (_, flow, _) = self.current_node()?;
                let target = node_of(flow, next)?;
                self.enter(target)?;
            }
        }
        Ok(self.events)
    }

    fn tick(mut self, node_id: &str, value: Option<String>) -> Result<Vec<EventKind>> {
        let (_, flow, current) = self.current_node()?;
        if !flow.kind.is_checklist() {
            return Err(EngineError::NotHere(
                "ticking is for checklist (procedural or maintenance) flows; use answer".into(),
            ));
        }
        let node = node_of(flow, node_id)?;
        if node.kind != NodeKind::Step {
            return Err(EngineError::NotHere(format!(
                "{:?} is a {}, not a step; only steps are ticked",
                node.id, node.kind
            )));
        }
        let value = value
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        if value.is_none() && needs_value(node) {
            return Err(EngineError::NotHere(format!(
                "step {:?} asks \"{}\": pass the value with --value",
                node.id,
                verify_prompt(node)
            )));
        }
        let is_current = current.is_some_and(|current| current.id == node.id);
        if !node.answers().is_empty() {
            let label = value.clone().unwrap_or_default();
            let index = node
                .answers()
                .iter()
                .position(|answer| answer.label.eq_ignore_ascii_case(&label));
            let Some(index) = index else {
                let labels: Vec<&str> = node
                    .answers()
                    .iter()
                    .map(|answer| answer.label.as_str())
                    .collect();
                return Err(EngineError::NotHere(format!(
                    "step {:?} branches: answer it, or tick with --value set to one of: {}",
                    node.id,
                    labels.join(" / ")
                )));
            };
            if is_current {
                return self.answer(Choice::Index(index));
            }
        }
        self.record_tick(node, value)?;
        if is_current {
            self.advance_checklist(node)?;
        }
        Ok(self.events)
    }
}

fn node_of<'f>(flow: &'f Flow, id: &str) -> Result<&'f Node> {
    flow.node(id).ok_or_else(|| missing_node(flow, id))
}

fn missing_node(flow: &Flow, id: &str) -> EngineError {
    EngineError::MissingNode {
        node: id.to_owned(),
        flow_title: flow.title.clone(),
    }
}

fn needs_value(node: &Node) -> bool {
    node.verify
        .as_ref()
        .is_some_and(|verify| verify.kind == crate::flow::VerifyKind::Text)
}

fn verify_prompt(node: &Node) -> &str {
    node.verify
        .as_ref()
        .map(|verify| verify.prompt.as_str())
        .filter(|prompt| !prompt.is_empty())
        .unwrap_or("a value")
}

fn no_such_choice(given: &str, choices: &[String]) -> EngineError {
    let listed: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(index, label)| format!("{}) {label}", index + 1))
        .collect();
    EngineError::NotHere(format!(
        "{given:?} is not one of the choices here: {}",
        listed.join(", ")
    ))
}

/// The labels an engineer can pick at `node`: its answers, "Done" for actions and plain steps,
/// "Return to the previous flow" for a resolution inside a subflow, nothing at a final resolution
/// or at a step that needs a typed value (that one is ticked with the value).
pub fn choices_at(node: &Node, open_flows: usize) -> Vec<String> {
    if !node.answers().is_empty() {
        return node
            .answers()
            .iter()
            .map(|answer| answer.label.clone())
            .collect();
    }
    match node.kind {
        NodeKind::Step if needs_value(node) => Vec::new(),
        NodeKind::Action | NodeKind::Step => vec!["Done".to_owned()],
        NodeKind::Resolution if open_flows >= 2 => {
            vec!["Return to the previous flow".to_owned()]
        }
        _ => Vec::new(),
    }
}
