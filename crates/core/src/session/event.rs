//! The event format: what a session's append-only log holds, and the flow versions it names.

use super::*;

/// One version of a flow, as a session refers to it: the flow and the content address of the
/// document (see [`VersionId`]), so the reference means the same on every replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FlowRef {
    pub flow_id: Uuid,
    pub version: VersionId,
}

impl FlowRef {
    /// The reference to this document of `flow_id`.
    pub fn of(flow_id: Uuid, flow: &Flow) -> FlowRef {
        FlowRef {
            flow_id,
            version: VersionId::of(flow),
        }
    }
}

/// The flow documents a session may touch: its own flow and every subflow, by version, and
/// which version of each flow is its head (the one a new session or subflow starts on).
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    versions: BTreeMap<FlowRef, Flow>,
    latest: BTreeMap<Uuid, VersionId>,
}

impl FlowSet {
    pub fn new() -> FlowSet {
        FlowSet::default()
    }

    /// Adds one version; it becomes the flow's head only if the flow has none yet.
    pub fn insert(&mut self, reference: FlowRef, flow: Flow) {
        self.latest
            .entry(reference.flow_id)
            .or_insert(reference.version);
        self.versions.insert(reference, flow);
    }

    /// Adds one version as the flow's head.
    pub fn insert_latest(&mut self, reference: FlowRef, flow: Flow) {
        self.latest.insert(reference.flow_id, reference.version);
        self.versions.insert(reference, flow);
    }

    pub fn get(&self, reference: FlowRef) -> Option<&Flow> {
        self.versions.get(&reference)
    }

    pub fn latest(&self, flow_id: Uuid) -> Option<(FlowRef, &Flow)> {
        let version = *self.latest.get(&flow_id)?;
        let reference = FlowRef { flow_id, version };
        self.versions.get(&reference).map(|flow| (reference, flow))
    }

    pub fn contains_flow(&self, flow_id: Uuid) -> bool {
        self.latest.contains_key(&flow_id)
    }
}

/// One recorded fact. The variants are the session events of DESIGN.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    Started {
        flow: FlowRef,
        flow_title: String,
        flow_kind: FlowKind,
        ticket: String,
        client: String,
        engineer: String,
        variables: BTreeMap<String, String>,
        /// The batch and target this session works, when it is one target of a batch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<crate::batch::BatchLink>,
    },
    StepEntered {
        node: String,
        node_kind: NodeKind,
        title: String,
    },
    AnswerChosen {
        node: String,
        answer_index: usize,
        label: String,
    },
    NoteAdded {
        text: String,
    },
    OutputPasted {
        text: String,
    },
    AttachmentAdded {
        attachment: AttachmentRef,
    },
    WentBack {
        to_node: Option<String>,
        to_title: String,
    },
    CustomStepInserted {
        title: String,
    },
    SubflowEntered {
        node: String,
        flow: FlowRef,
        flow_title: String,
        flow_kind: FlowKind,
    },
    SubflowLeft {
        flow: FlowRef,
        completed: bool,
    },
    ItemTicked {
        node: String,
        title: String,
        value: Option<String>,
    },
    /// Every item of the checklist in front of the engineer is done.
    ChecklistCompleted {},
    Finished {
        outcome: Outcome,
        summary: Option<String>,
        next_steps: Option<String>,
    },
    /// The engineer hands the session to a teammate: from here only that teammate's device
    /// may append (see [`Holder`]).
    HandedOff {
        to_user: Uuid,
        to_email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

impl EventKind {
    /// The snake_case name stored beside the payload, for queries and logs.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started { .. } => "started",
            EventKind::StepEntered { .. } => "step_entered",
            EventKind::AnswerChosen { .. } => "answer_chosen",
            EventKind::NoteAdded { .. } => "note_added",
            EventKind::OutputPasted { .. } => "output_pasted",
            EventKind::AttachmentAdded { .. } => "attachment_added",
            EventKind::WentBack { .. } => "went_back",
            EventKind::CustomStepInserted { .. } => "custom_step_inserted",
            EventKind::SubflowEntered { .. } => "subflow_entered",
            EventKind::SubflowLeft { .. } => "subflow_left",
            EventKind::ItemTicked { .. } => "item_ticked",
            EventKind::ChecklistCompleted {} => "checklist_completed",
            EventKind::Finished { .. } => "finished",
            EventKind::HandedOff { .. } => "handed_off",
        }
    }
}

/// A file attached to a step, stored content-addressed by the replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub kind: EventKind,
}
