//! A session's state: every event folded in order ([`SessionState::apply`]), needing no flow
//! document.

use super::*;

/// Where the engineer stands inside one flow of the subflow stack. `node` is `None` when a
/// checklist has every step done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub flow: FlowRef,
    pub flow_kind: FlowKind,
    pub node: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Finished,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Finished => "finished",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedText {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A node of a flow was visited.
    Step,
    /// A checklist item was ticked (possibly out of order).
    Tick,
    /// The engineer did something the flow does not describe.
    Custom,
    SubflowEntered,
    SubflowLeft,
    WentBack,
    /// The session was handed to a teammate (the title names them, the note is its note).
    HandedOff,
}

impl EntryKind {
    /// The kind as a CSS class name (`went-back`), in the HTML export and the app's timeline.
    pub fn class_name(self) -> &'static str {
        match self {
            EntryKind::Step => "step",
            EntryKind::Tick => "tick",
            EntryKind::Custom => "custom",
            EntryKind::SubflowEntered => "subflow-entered",
            EntryKind::SubflowLeft => "subflow-left",
            EntryKind::WentBack => "went-back",
            EntryKind::HandedOff => "handed-off",
        }
    }
}

/// One line of the path the engineer took, with what was recorded there. Built from events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathEntry {
    pub kind: EntryKind,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub flow: FlowRef,
    pub node: Option<String>,
    pub node_kind: Option<NodeKind>,
    pub title: String,
    /// Subflow depth, 0 for the session's own flow.
    pub depth: usize,
    pub answer: Option<String>,
    pub value: Option<String>,
    pub notes: Vec<TimedText>,
    pub outputs: Vec<TimedText>,
    pub attachments: Vec<AttachmentRef>,
}

/// Everything known about a session, computed from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub flow: FlowRef,
    pub flow_title: String,
    pub flow_kind: FlowKind,
    pub ticket: String,
    pub client: String,
    pub engineer: String,
    pub variables: BTreeMap<String, String>,
    /// The batch and target, when the session is one target of a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchLink>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_event_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub status: SessionStatus,
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
    pub next_steps: Option<String>,
    /// The subflow stack, outermost first; the last cursor is where the engineer is.
    pub position: Vec<Cursor>,
    /// Earlier positions, for going back.
    pub history: Vec<Vec<Cursor>>,
    pub path: Vec<PathEntry>,
    /// Checklist items done, per flow version and node, with the value recorded. In JSON the
    /// flow version is written `"<flow id>@<version>"`, since JSON keys are strings.
    #[serde(with = "ticked_by_flow")]
    pub ticked: BTreeMap<FlowRef, BTreeMap<String, Option<String>>>,
    pub event_count: usize,
}

/// Serde form of [`SessionState::ticked`]: flow references as `"<uuid>@<version id>"` keys.
mod ticked_by_flow {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    use super::FlowRef;

    type Ticked = BTreeMap<FlowRef, BTreeMap<String, Option<String>>>;

    pub fn serialize<S: Serializer>(ticked: &Ticked, serializer: S) -> Result<S::Ok, S::Error> {
        ticked
            .iter()
            .map(|(flow, nodes)| (format!("{}@{}", flow.flow_id, flow.version), nodes))
            .collect::<BTreeMap<_, _>>()
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Ticked, D::Error> {
        let raw = BTreeMap::<String, BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
        raw.into_iter()
            .map(|(key, nodes)| {
                let (id, version) = key.split_once('@').ok_or_else(|| {
                    D::Error::custom(format!("{key:?} is not <flow id>@<version>"))
                })?;
                let flow = FlowRef {
                    flow_id: Uuid::parse_str(id).map_err(D::Error::custom)?,
                    version: version.parse().map_err(D::Error::custom)?,
                };
                Ok((flow, nodes))
            })
            .collect()
    }
}

impl SessionState {
    /// Computes the state from the whole log.
    pub fn replay(events: &[SessionEvent]) -> Result<SessionState> {
        let (first, rest) = events.split_first().ok_or(EngineError::Empty)?;
        let mut state = SessionState::from_started(first)?;
        for (offset, event) in rest.iter().enumerate() {
            state.apply_at(offset + 1, event)?;
        }
        Ok(state)
    }

    fn from_started(event: &SessionEvent) -> Result<SessionState> {
        let EventKind::Started {
            flow,
            flow_title,
            flow_kind,
            ticket,
            client,
            engineer,
            variables,
            batch,
        } = &event.kind
        else {
            return Err(EngineError::NotStarted {
                name: event.kind.name(),
            });
        };
        Ok(SessionState {
            flow: *flow,
            flow_title: flow_title.clone(),
            flow_kind: *flow_kind,
            ticket: ticket.clone(),
            client: client.clone(),
            engineer: engineer.clone(),
            variables: variables.clone(),
            batch: batch.clone(),
            started_at: event.at,
            last_event_at: event.at,
            finished_at: None,
            status: SessionStatus::Active,
            outcome: None,
            summary: None,
            next_steps: None,
            position: vec![Cursor {
                flow: *flow,
                flow_kind: *flow_kind,
                node: None,
            }],
            history: Vec::new(),
            path: Vec::new(),
            ticked: BTreeMap::new(),
            event_count: 1,
        })
    }

    /// Folds one more event into the state (the index is for error messages only).
    pub fn apply(&mut self, event: &SessionEvent) -> Result<()> {
        self.apply_at(self.event_count, event)
    }

    fn apply_at(&mut self, index: usize, event: &SessionEvent) -> Result<()> {
        let name = event.kind.name();
        let inconsistent = |reason: &str| EngineError::Inconsistent {
            index,
            name,
            reason: reason.to_owned(),
        };
        let depth = self.position.len().saturating_sub(1);
        let current_flow = self
            .current_cursor()
            .map(|cursor| cursor.flow)
            .unwrap_or(self.flow);
        let at = event.at;
        let entry = |kind: EntryKind, node: Option<String>, node_kind, title: String| PathEntry {
            kind,
            at,
            flow: current_flow,
            node,
            node_kind,
            title,
            depth,
            answer: None,
            value: None,
            notes: Vec::new(),
            outputs: Vec::new(),
            attachments: Vec::new(),
        };
        match &event.kind {
            EventKind::Started { .. } => return Err(EngineError::StartedTwice { index }),
            EventKind::StepEntered {
                node,
                node_kind,
                title,
            } => {
                self.remember_position();
                let cursor = self
                    .position
                    .last_mut()
                    .ok_or_else(|| inconsistent("no flow is open"))?;
                cursor.node = Some(node.clone());
                self.path.push(entry(
                    EntryKind::Step,
                    Some(node.clone()),
                    Some(*node_kind),
                    title.clone(),
                ));
            }
            EventKind::AnswerChosen { node, label, .. } => {
                let last = self
                    .path
                    .iter_mut()
                    .rev()
                    .find(|entry| {
                        entry.kind == EntryKind::Step && entry.node.as_ref() == Some(node)
                    })
                    .ok_or_else(|| inconsistent("the answered node was never entered"))?;
                last.answer = Some(label.clone());
            }
            EventKind::NoteAdded { text } => self.last_entry(index, name)?.notes.push(TimedText {
                at,
                text: text.clone(),
            }),
            EventKind::OutputPasted { text } => {
                self.last_entry(index, name)?.outputs.push(TimedText {
                    at,
                    text: text.clone(),
                })
            }
            EventKind::AttachmentAdded { attachment } => self
                .last_entry(index, name)?
                .attachments
                .push(attachment.clone()),
            EventKind::WentBack { to_title, .. } => {
                let previous = self
                    .history
                    .pop()
                    .ok_or_else(|| inconsistent("there is no earlier position"))?;
                self.position = previous;
                let (to_node, node_kind) = self
                    .current_cursor()
                    .map(|cursor| (cursor.node.clone(), None))
                    .unwrap_or((None, None));
                let mut back = entry(EntryKind::WentBack, to_node, node_kind, to_title.clone());
                back.depth = self.position.len().saturating_sub(1);
                if let Some(cursor) = self.current_cursor() {
                    back.flow = cursor.flow;
                }
                self.path.push(back);
            }
            EventKind::CustomStepInserted { title } => {
                self.path
                    .push(entry(EntryKind::Custom, None, None, title.clone()));
            }
            EventKind::SubflowEntered {
                node,
                flow,
                flow_title,
                flow_kind,
            } => {
                if self.position.len() > MAX_SUBFLOW_DEPTH {
                    return Err(inconsistent("subflows nest too deep"));
                }
                self.remember_position();
                let cursor = self
                    .position
                    .last_mut()
                    .ok_or_else(|| inconsistent("no flow is open"))?;
                cursor.node = Some(node.clone());
                self.position.push(Cursor {
                    flow: *flow,
                    flow_kind: *flow_kind,
                    node: None,
                });
                self.path.push(entry(
                    EntryKind::SubflowEntered,
                    Some(node.clone()),
                    Some(NodeKind::Subflow),
                    flow_title.clone(),
                ));
            }
            EventKind::SubflowLeft { flow, completed } => {
                if self.position.len() < 2 {
                    return Err(inconsistent("no subflow is open"));
                }
                if self.current_cursor().map(|cursor| cursor.flow) != Some(*flow) {
                    return Err(inconsistent("a different subflow is open"));
                }
                self.remember_position();
                self.position.pop();
                let parent = self
                    .position
                    .last()
                    .ok_or_else(|| inconsistent("no parent flow"))?;
                let parent_flow = parent.flow;
                let subflow_node = parent.node.clone();
                if *completed && let Some(node) = &subflow_node {
                    self.ticked
                        .entry(parent_flow)
                        .or_default()
                        .insert(node.clone(), None);
                }
                let title = self
                    .path
                    .iter()
                    .rev()
                    .find(|entry| {
                        entry.kind == EntryKind::SubflowEntered && entry.flow == parent_flow
                    })
                    .map(|entry| entry.title.clone())
                    .unwrap_or_default();
                let mut left = entry(
                    EntryKind::SubflowLeft,
                    subflow_node,
                    Some(NodeKind::Subflow),
                    title,
                );
                left.flow = parent_flow;
                left.depth = self.position.len().saturating_sub(1);
                self.path.push(left);
            }
            EventKind::ItemTicked { node, title, value } => {
                self.ticked
                    .entry(current_flow)
                    .or_default()
                    .insert(node.clone(), value.clone());
                let mut tick = entry(
                    EntryKind::Tick,
                    Some(node.clone()),
                    Some(NodeKind::Step),
                    title.clone(),
                );
                tick.value = value.clone();
                self.path.push(tick);
            }
            EventKind::ChecklistCompleted {} => {
                self.remember_position();
                let cursor = self
                    .position
                    .last_mut()
                    .ok_or_else(|| inconsistent("no flow is open"))?;
                cursor.node = None;
            }
            EventKind::HandedOff { to_email, note, .. } => {
                let mut handed = entry(EntryKind::HandedOff, None, None, to_email.clone());
                if let Some(note) = note {
                    handed.notes.push(TimedText {
                        at,
                        text: note.clone(),
                    });
                }
                self.path.push(handed);
            }
            EventKind::Finished {
                outcome,
                summary,
                next_steps,
            } => {
                if self.status == SessionStatus::Finished {
                    return Err(inconsistent("the session is already finished"));
                }
                self.status = SessionStatus::Finished;
                self.outcome = Some(*outcome);
                self.summary = summary.clone();
                self.next_steps = next_steps.clone();
                self.finished_at = Some(at);
            }
        }
        self.last_event_at = self.last_event_at.max(at);
        self.event_count += 1;
        Ok(())
    }

    fn remember_position(&mut self) {
        if self
            .current_cursor()
            .is_some_and(|cursor| cursor.node.is_some())
        {
            self.history.push(self.position.clone());
        }
    }

    fn last_entry(&mut self, index: usize, name: &'static str) -> Result<&mut PathEntry> {
        self.path.last_mut().ok_or(EngineError::Inconsistent {
            index,
            name,
            reason: "nothing has been visited yet".into(),
        })
    }

    pub fn current_cursor(&self) -> Option<&Cursor> {
        self.position.last()
    }

    pub fn is_finished(&self) -> bool {
        self.status == SessionStatus::Finished
    }

    /// Wall-clock length: start to finish, or to the last event while still open. Clocks may be
    /// skewed, so a negative span is shown as zero rather than trusted.
    pub fn duration(&self) -> time::Duration {
        let end = self.finished_at.unwrap_or(self.last_event_at);
        (end - self.started_at).max(time::Duration::ZERO)
    }

    pub fn is_ticked(&self, flow: FlowRef, node: &str) -> bool {
        self.ticked
            .get(&flow)
            .is_some_and(|ticked| ticked.contains_key(node))
    }
}
