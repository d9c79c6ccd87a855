//! The runner: the session in front of the engineer, the note being typed and its save state,
//! the open dialog, and which key does what.
//!
//! Saves are numbered by the note's revision: a save that lands after the engineer typed more
//! leaves the note "unsaved", so the quiet "Saved" never lies.

use std::rc::Rc;

use rf_app_api::SessionView;
use rf_core::flow::{Node, NodeKind, VerifyKind};
use rf_core::session::{Choice, Command};
use rf_core::{FlowKind, Outcome};
use yew::Reducible;

/// Where the note's draft stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteSave {
    /// Nothing typed since the step opened.
    Idle,
    /// Typed, not saved yet (the save waits for a pause in typing).
    Unsaved,
    Saving,
    Saved,
    Failed(String),
}

impl NoteSave {
    /// The quiet words beside the note box.
    pub fn label(&self) -> String {
        match self {
            NoteSave::Idle => String::new(),
            NoteSave::Unsaved => "Editing…".to_owned(),
            NoteSave::Saving => "Saving…".to_owned(),
            NoteSave::Saved => "Saved".to_owned(),
            NoteSave::Failed(error) => format!("Not saved: {error}"),
        }
    }

    pub fn attribute(&self) -> &'static str {
        match self {
            NoteSave::Idle => "idle",
            NoteSave::Unsaved => "unsaved",
            NoteSave::Saving => "saving",
            NoteSave::Saved => "saved",
            NoteSave::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    /// Bumped by every edit.
    pub revision: u64,
    pub save: NoteSave,
}

impl Default for Note {
    fn default() -> Self {
        Note {
            text: String::new(),
            revision: 0,
            save: NoteSave::Idle,
        }
    }
}

/// The finish dialog's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishForm {
    pub outcome: Option<Outcome>,
    pub summary: String,
    pub next_steps: String,
    pub error: Option<String>,
    /// FlowPilot is drafting the summary and next steps.
    pub drafting: bool,
}

impl FinishForm {
    /// The `Finish` command, or what is missing.
    pub fn command(&self) -> Result<Command, String> {
        let outcome = self
            .outcome
            .ok_or_else(|| "Choose how the session ended.".to_owned())?;
        let optional = |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
        Ok(Command::Finish {
            outcome,
            summary: optional(&self.summary),
            next_steps: optional(&self.next_steps),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Finish(FinishForm),
    /// Pasting command output (monospace).
    Paste(String),
    /// The title of a step the flow does not describe.
    Custom(String),
    Shortcuts,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunnerState {
    pub view: Option<SessionView>,
    /// Why the session could not be loaded.
    pub error: Option<String>,
    pub note: Note,
    pub dialog: Option<Dialog>,
    /// A command is on its way; keys and buttons wait.
    pub busy: bool,
    /// Why the last action failed (shown above the answers).
    pub action_error: Option<String>,
    pub timeline_collapsed: bool,
    /// Commands accepted and waiting to be sent; `submitted` counts them so the component
    /// sends each batch once, with the state as it is after the reducer, never a stale copy.
    pub outbox: Vec<Command>,
    pub submitted: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunnerAction {
    Loaded(Box<SessionView>),
    /// A file was attached at the current step: the session as it now stands, while the note
    /// being typed stays exactly as it is.
    Attached(Box<SessionView>),
    LoadFailed(String),
    NoteEdited(String),
    SaveStarted(u64),
    SaveFinished(u64, Result<(), String>),
    Open(Dialog),
    CloseDialog,
    /// The text of the paste or custom-step dialog.
    DialogText(String),
    FinishOutcome(Outcome),
    FinishSummary(String),
    FinishNextSteps(String),
    FinishProblem(String),
    /// FlowPilot started drafting the summary and next steps.
    FinishDrafting,
    /// FlowPilot's draft: it fills the summary, and the next steps when it wrote some.
    FinishDraft {
        summary: String,
        next_steps: Option<String>,
    },
    /// FlowPilot could not draft: why, in words.
    FinishDraftFailed(String),
    /// Send these commands (unless something is already on its way).
    Submit(Vec<Command>),
    /// Enter or the confirm button in the open dialog.
    ConfirmDialog,
    ActFailed(String),
    ToggleTimeline,
}

/// What a key press asks the runner to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCommand {
    Answer(usize),
    FocusNote,
    Back,
    CustomStep,
    Finish,
    Shortcuts,
    /// Close the dialog, or leave the text field.
    Escape,
}

impl RunnerState {
    pub fn apply(mut self, action: RunnerAction) -> RunnerState {
        match action {
            RunnerAction::Loaded(view) => {
                let view = *view;
                let draft = view.draft.clone().unwrap_or_default();
                self.note = Note {
                    save: if draft.is_empty() {
                        NoteSave::Idle
                    } else {
                        NoteSave::Saved
                    },
                    text: draft,
                    revision: self.note.revision + 1,
                };
                self.view = Some(view);
                self.error = None;
                self.busy = false;
                self.action_error = None;
                self.dialog = None;
            }
            RunnerAction::Attached(view) => {
                self.view = Some(*view);
            }
            RunnerAction::LoadFailed(error) => {
                self.error = Some(error);
                self.busy = false;
            }
            RunnerAction::NoteEdited(text) => {
                if text != self.note.text {
                    self.note.text = text;
                    self.note.revision += 1;
                    self.note.save = NoteSave::Unsaved;
                }
            }
            RunnerAction::SaveStarted(revision) if revision == self.note.revision => {
                self.note.save = NoteSave::Saving;
            }
            RunnerAction::SaveFinished(revision, result) if revision == self.note.revision => {
                self.note.save = match result {
                    Ok(()) => NoteSave::Saved,
                    Err(error) => NoteSave::Failed(error),
                };
            }
            // A save of text typed over since: the newer text's own save decides.
            RunnerAction::SaveStarted(_) | RunnerAction::SaveFinished(..) => {}
            RunnerAction::Open(dialog) => {
                if !self.is_finished() || dialog == Dialog::Shortcuts {
                    self.dialog = Some(dialog);
                }
            }
            RunnerAction::CloseDialog => self.dialog = None,
            RunnerAction::DialogText(text) => {
                if let Some(Dialog::Paste(current) | Dialog::Custom(current)) = &mut self.dialog {
                    *current = text;
                }
            }
            RunnerAction::FinishOutcome(outcome) => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.outcome = Some(outcome);
                    form.error = None;
                }
            }
            RunnerAction::FinishSummary(text) => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.summary = text;
                }
            }
            RunnerAction::FinishNextSteps(text) => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.next_steps = text;
                }
            }
            RunnerAction::FinishProblem(error) => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.error = Some(error);
                }
            }
            RunnerAction::FinishDrafting => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.drafting = true;
                    form.error = None;
                }
            }
            RunnerAction::FinishDraft {
                summary,
                next_steps,
            } => {
                // A dialog closed meanwhile is not reopened by a late draft.
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.drafting = false;
                    form.summary = summary;
                    if let Some(next_steps) = next_steps {
                        form.next_steps = next_steps;
                    }
                }
            }
            RunnerAction::FinishDraftFailed(why) => {
                if let Some(Dialog::Finish(form)) = &mut self.dialog {
                    form.drafting = false;
                    form.error = Some(format!(
                        "FlowPilot could not draft it ({why}); write the summary yourself."
                    ));
                }
            }
            RunnerAction::Submit(commands) => self.submit(commands),
            RunnerAction::ConfirmDialog => match self.dialog.clone() {
                Some(Dialog::Finish(form)) => match form.command() {
                    Ok(command) => self.submit(vec![command]),
                    Err(problem) => return self.apply(RunnerAction::FinishProblem(problem)),
                },
                Some(Dialog::Paste(text)) if !text.trim().is_empty() => {
                    self.submit(vec![Command::PasteOutput { text }]);
                }
                Some(Dialog::Custom(title)) if !title.trim().is_empty() => {
                    self.submit(vec![Command::CustomStep {
                        title: title.trim().to_owned(),
                    }]);
                }
                _ => {}
            },
            RunnerAction::ActFailed(error) => {
                self.busy = false;
                match &mut self.dialog {
                    Some(Dialog::Finish(form)) => form.error = Some(error),
                    _ => self.action_error = Some(error),
                }
            }
            RunnerAction::ToggleTimeline => self.timeline_collapsed = !self.timeline_collapsed,
        }
        self
    }

    fn submit(&mut self, commands: Vec<Command>) {
        if self.busy || self.is_finished() || commands.is_empty() {
            return;
        }
        self.busy = true;
        self.action_error = None;
        self.outbox = commands;
        self.submitted += 1;
    }

    pub fn is_finished(&self) -> bool {
        self.view
            .as_ref()
            .is_some_and(|view| view.state.is_finished())
    }

    /// The current step's node, if a step is in front of the engineer.
    pub fn node(&self) -> Option<&Node> {
        self.view.as_ref()?.current.as_ref()?.node.as_ref()
    }

    /// The labels the number keys choose between.
    pub fn choices(&self) -> &[String] {
        self.view
            .as_ref()
            .and_then(|view| view.current.as_ref())
            .map(|step| step.choices.as_slice())
            .unwrap_or(&[])
    }

    pub fn flow_kind(&self) -> Option<FlowKind> {
        let view = self.view.as_ref()?;
        Some(
            view.current
                .as_ref()
                .map(|step| step.flow_kind)
                .unwrap_or(view.state.flow_kind),
        )
    }

    /// What `key` does here. `in_text_field` is true while typing in an input or textarea;
    /// `modified` while Ctrl, Alt or Meta is held (those keys belong to the system).
    pub fn key(&self, key: &str, in_text_field: bool, modified: bool) -> Option<KeyCommand> {
        if key == "Escape" {
            return Some(KeyCommand::Escape);
        }
        if in_text_field || modified {
            return None;
        }
        if key == "?" {
            return Some(KeyCommand::Shortcuts);
        }
        if self.dialog.is_some() || self.busy || self.is_finished() {
            return None;
        }
        let view = self.view.as_ref()?;
        let mut letters = key.chars();
        let (Some(letter), None) = (letters.next(), letters.next()) else {
            return None;
        };
        match letter {
            '1'..='9' => {
                let index = letter as usize - '1' as usize;
                (index < self.choices().len()).then_some(KeyCommand::Answer(index))
            }
            'n' => Some(KeyCommand::FocusNote),
            'b' => view
                .current
                .as_ref()
                .is_some_and(|step| step.can_go_back)
                .then_some(KeyCommand::Back),
            'c' => Some(KeyCommand::CustomStep),
            'f' => Some(KeyCommand::Finish),
            _ => None,
        }
    }

    /// The finish dialog, its outcome preset when the step is a resolution that suggests one.
    pub fn finish_dialog(&self) -> Dialog {
        let suggested = self
            .node()
            .filter(|node| node.kind == NodeKind::Resolution)
            .and_then(|node| node.outcome);
        Dialog::Finish(FinishForm {
            outcome: suggested,
            ..FinishForm::default()
        })
    }

    /// The command the answer at `index` sends (a checklist step asking for text is ticked
    /// with its value instead, from its own field).
    pub fn answer_command(&self, index: usize) -> Option<Command> {
        (index < self.choices().len()).then_some(Command::Answer {
            choice: Choice::Index(index),
        })
    }
}

/// The command a checklist item sends when ticked: a checkbox ticks with no value, a text
/// prompt with the trimmed text (nothing when empty), a branch with the label chosen.
pub fn tick_command(node: &Node, value: Option<&str>) -> Option<Command> {
    let needs_text = node
        .verify
        .as_ref()
        .is_some_and(|verify| verify.kind == VerifyKind::Text);
    let value = value.map(str::trim).filter(|text| !text.is_empty());
    if (needs_text || !node.answers().is_empty()) && value.is_none() {
        return None;
    }
    Some(Command::Tick {
        node: node.id.clone(),
        value: value.map(str::to_owned),
    })
}

impl Reducible for RunnerState {
    type Action = RunnerAction;

    fn reduce(self: Rc<Self>, action: RunnerAction) -> Rc<Self> {
        Rc::new((*self).clone().apply(action))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rf_core::flow::{Answer, Verify};
    use rf_core::session::{Cursor, FlowRef, SessionState, SessionStatus, StepView};
    use rf_core::{FlowKind, VersionId};
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn flowpilot_drafts_fill_the_finish_form_and_a_closed_dialog_stays_closed() {
        let finish = |state: &RunnerState| match &state.dialog {
            Some(Dialog::Finish(form)) => form.clone(),
            other => panic!("the finish dialog is not open: {other:?}"),
        };
        let state = RunnerState::default()
            .apply(RunnerAction::Open(Dialog::Finish(FinishForm::default())))
            .apply(RunnerAction::FinishNextSteps("typed".into()))
            .apply(RunnerAction::FinishDrafting);
        assert!(finish(&state).drafting);
        let state = state.apply(RunnerAction::FinishDraft {
            summary: "The VPN failed; reinstalled.".into(),
            next_steps: None,
        });
        let form = finish(&state);
        assert!(!form.drafting);
        assert_eq!(form.summary, "The VPN failed; reinstalled.");
        assert_eq!(
            form.next_steps, "typed",
            "no next steps drafted keeps what was typed"
        );
        let state = state
            .apply(RunnerAction::FinishDrafting)
            .apply(RunnerAction::FinishDraftFailed("offline".into()));
        assert!(
            finish(&state)
                .error
                .is_some_and(|error| error.contains("offline"))
        );
        let state = state
            .apply(RunnerAction::CloseDialog)
            .apply(RunnerAction::FinishDraft {
                summary: "late".into(),
                next_steps: None,
            });
        assert_eq!(state.dialog, None);
    }

    fn question(answers: &[&str]) -> Node {
        let mut node = Node::new("q1", NodeKind::Question, "Can the client ping the DC?");
        node.answers = Some(
            answers
                .iter()
                .map(|label| Answer {
                    label: (*label).into(),
                    next: "next".into(),
                    extra: Default::default(),
                })
                .collect(),
        );
        node
    }

    pub(crate) fn view(node: Node, can_go_back: bool, finished: bool) -> SessionView {
        let flow = FlowRef {
            flow_id: Uuid::from_u128(1),
            version: VersionId::from_bytes([1; 32]),
        };
        let at = datetime!(2025-03-01 10:00 UTC);
        let state = SessionState {
            flow,
            flow_title: "DNS resolution failure".into(),
            flow_kind: FlowKind::Troubleshooting,
            ticket: "T-1".into(),
            client: "Acme".into(),
            engineer: "sam".into(),
            variables: BTreeMap::new(),
            batch: None,
            started_at: at,
            last_event_at: at,
            finished_at: finished.then_some(at),
            status: if finished {
                SessionStatus::Finished
            } else {
                SessionStatus::Active
            },
            outcome: finished.then_some(Outcome::Resolved),
            summary: None,
            next_steps: None,
            position: vec![Cursor {
                flow,
                flow_kind: FlowKind::Troubleshooting,
                node: Some(node.id.clone()),
            }],
            history: Vec::new(),
            path: Vec::new(),
            ticked: BTreeMap::new(),
            event_count: 2,
        };
        let choices = node.answers().iter().map(|a| a.label.clone()).collect();
        SessionView {
            id: Uuid::from_u128(2),
            state,
            current: (!finished).then(|| StepView {
                flow,
                flow_title: "DNS resolution failure".into(),
                flow_kind: FlowKind::Troubleshooting,
                depth: 0,
                node: Some(node),
                choices,
                progress: None,
                can_go_back,
            }),
            breadcrumb: vec!["DNS resolution failure".into()],
            stats: None,
            problem: None,
            draft: None,
        }
    }

    fn loaded(answers: &[&str], can_go_back: bool) -> RunnerState {
        RunnerState::default().apply(RunnerAction::Loaded(Box::new(view(
            question(answers),
            can_go_back,
            false,
        ))))
    }

    #[test]
    fn number_keys_answer_only_existing_choices() {
        let state = loaded(&["Yes", "No"], false);
        assert_eq!(state.key("1", false, false), Some(KeyCommand::Answer(0)));
        assert_eq!(state.key("2", false, false), Some(KeyCommand::Answer(1)));
        assert_eq!(state.key("3", false, false), None);
        assert_eq!(state.key("0", false, false), None);
        assert_eq!(
            state.answer_command(1),
            Some(Command::Answer {
                choice: Choice::Index(1)
            })
        );
        assert_eq!(state.answer_command(2), None);
    }

    #[test]
    fn keys_do_nothing_while_typing_except_escape() {
        let state = loaded(&["Yes", "No"], true);
        for key in ["1", "n", "b", "c", "f", "?"] {
            assert_eq!(state.key(key, true, false), None, "{key}");
        }
        assert_eq!(state.key("Escape", true, false), Some(KeyCommand::Escape));
        assert_eq!(state.key("1", false, true), None, "Ctrl+1 is not an answer");
        assert_eq!(state.key("b", false, false), Some(KeyCommand::Back));
        assert_eq!(state.key("n", false, false), Some(KeyCommand::FocusNote));
        assert_eq!(state.key("f", false, false), Some(KeyCommand::Finish));
        assert_eq!(state.key("?", false, false), Some(KeyCommand::Shortcuts));
        assert_eq!(state.key("Enter", false, false), None);
    }

    #[test]
    fn back_needs_somewhere_to_go_and_dialogs_swallow_keys() {
        let state = loaded(&["Yes"], false);
        assert_eq!(state.key("b", false, false), None);
        let state = state.apply(RunnerAction::Open(Dialog::Paste(String::new())));
        assert_eq!(state.key("1", false, false), None);
        assert_eq!(state.key("Escape", false, false), Some(KeyCommand::Escape));
        let state = state
            .apply(RunnerAction::CloseDialog)
            .apply(RunnerAction::Submit(vec![Command::Back]));
        assert!(state.busy);
        assert_eq!(state.key("1", false, false), None);
    }

    #[test]
    fn attaching_a_file_keeps_the_note_being_typed() {
        let state = loaded(&["Yes"], false).apply(RunnerAction::NoteEdited("half a tho".into()));
        let view = state.view.clone().unwrap();
        let state = state.apply(RunnerAction::Attached(Box::new(view)));
        assert_eq!(state.note.text, "half a tho");
        assert_eq!(state.note.save, NoteSave::Unsaved);
    }

    #[test]
    fn typing_after_saved_goes_back_to_unsaved() {
        let state =
            loaded(&["Yes"], false).apply(RunnerAction::NoteEdited("DC answers ping".into()));
        assert_eq!(state.note.save, NoteSave::Unsaved);
        let revision = state.note.revision;
        let state = state
            .apply(RunnerAction::SaveStarted(revision))
            .apply(RunnerAction::SaveFinished(revision, Ok(())));
        assert_eq!(state.note.save, NoteSave::Saved);
        assert_eq!(state.note.save.label(), "Saved");
        let state = state.apply(RunnerAction::NoteEdited("DC answers ping, DNS not".into()));
        assert_eq!(state.note.save, NoteSave::Unsaved);
    }

    #[test]
    fn a_save_overtaken_by_typing_does_not_claim_saved() {
        let state = loaded(&["Yes"], false).apply(RunnerAction::NoteEdited("a".into()));
        let first = state.note.revision;
        let state = state
            .apply(RunnerAction::SaveStarted(first))
            .apply(RunnerAction::NoteEdited("ab".into()))
            .apply(RunnerAction::SaveFinished(first, Ok(())));
        assert_eq!(state.note.save, NoteSave::Unsaved);
        let second = state.note.revision;
        let state = state.apply(RunnerAction::SaveFinished(second, Err("disk full".into())));
        assert_eq!(state.note.save, NoteSave::Failed("disk full".into()));
        assert_eq!(state.note.save.label(), "Not saved: disk full");
    }

    #[test]
    fn a_reopened_session_brings_its_draft_back() {
        let mut with_draft = view(question(&["Yes"]), false, false);
        with_draft.draft = Some("half a note".into());
        let state = RunnerState::default().apply(RunnerAction::Loaded(Box::new(with_draft)));
        assert_eq!(state.note.text, "half a note");
        assert_eq!(state.note.save, NoteSave::Saved);
    }

    #[test]
    fn finishing_needs_an_outcome_and_resolutions_suggest_one() {
        let mut resolution = Node::new("r1", NodeKind::Resolution, "Fixed");
        resolution.outcome = Some(Outcome::Workaround);
        let state = RunnerState::default().apply(RunnerAction::Loaded(Box::new(view(
            resolution, true, false,
        ))));
        let Dialog::Finish(form) = state.finish_dialog() else {
            panic!("not the finish dialog");
        };
        assert_eq!(form.outcome, Some(Outcome::Workaround));

        let state = loaded(&["Yes"], false)
            .apply(RunnerAction::Open(Dialog::Finish(FinishForm::default())));
        let Some(Dialog::Finish(form)) = &state.dialog else {
            panic!("no dialog");
        };
        assert_eq!(form.command(), Err("Choose how the session ended.".into()));
        let state = state
            .apply(RunnerAction::FinishOutcome(Outcome::Escalated))
            .apply(RunnerAction::FinishSummary("  Sent to L2 ".into()));
        let Some(Dialog::Finish(form)) = &state.dialog else {
            panic!("no dialog");
        };
        assert_eq!(
            form.command(),
            Ok(Command::Finish {
                outcome: Outcome::Escalated,
                summary: Some("Sent to L2".into()),
                next_steps: None,
            })
        );
    }

    #[test]
    fn a_finished_session_takes_no_keys_or_dialogs() {
        let state = RunnerState::default().apply(RunnerAction::Loaded(Box::new(view(
            question(&["Yes"]),
            false,
            true,
        ))));
        assert!(state.is_finished());
        assert_eq!(state.key("1", false, false), None);
        assert_eq!(state.key("f", false, false), None);
        let state = state.apply(RunnerAction::Open(Dialog::Custom(String::new())));
        assert_eq!(state.dialog, None);
    }

    #[test]
    fn checklist_ticks_carry_the_value_they_need() {
        let mut checkbox = Node::new("s1", NodeKind::Step, "Snapshot the VM");
        assert_eq!(
            tick_command(&checkbox, None),
            Some(Command::Tick {
                node: "s1".into(),
                value: None
            })
        );
        checkbox.verify = Some(Verify {
            kind: VerifyKind::Text,
            prompt: "Snapshot name".into(),
            extra: Default::default(),
        });
        assert_eq!(tick_command(&checkbox, Some("  ")), None);
        assert_eq!(
            tick_command(&checkbox, Some(" snap-01 ")),
            Some(Command::Tick {
                node: "s1".into(),
                value: Some("snap-01".into())
            })
        );
        let branch = question(&["Healthy", "Degraded"]);
        assert_eq!(tick_command(&branch, None), None);
    }

    #[test]
    fn one_batch_at_a_time() {
        let state =
            loaded(&["Yes", "No"], false).apply(RunnerAction::Submit(vec![Command::Answer {
                choice: Choice::Index(1),
            }]));
        assert_eq!(state.submitted, 1);
        assert_eq!(
            state.outbox,
            vec![Command::Answer {
                choice: Choice::Index(1)
            }]
        );
        // A second key press while the first answer is on its way is dropped.
        let state = state.apply(RunnerAction::Submit(vec![Command::Back]));
        assert_eq!(state.submitted, 1);
        // The answer lands: the runner takes commands again.
        let state = state.apply(RunnerAction::Loaded(Box::new(view(
            question(&["Ok"]),
            true,
            false,
        ))));
        assert!(!state.busy);
        let state = state.apply(RunnerAction::Submit(vec![Command::Back]));
        assert_eq!(state.submitted, 2);
        let state = state.apply(RunnerAction::ActFailed("no earlier step".into()));
        assert!(!state.busy);
        assert_eq!(state.action_error.as_deref(), Some("no earlier step"));
    }

    #[test]
    fn confirming_dialogs_submits_what_they_hold() {
        let state = loaded(&["Yes"], false)
            .apply(RunnerAction::Open(Dialog::Finish(FinishForm::default())))
            .apply(RunnerAction::ConfirmDialog);
        assert_eq!(state.submitted, 0);
        let Some(Dialog::Finish(form)) = &state.dialog else {
            panic!("the dialog closed");
        };
        assert_eq!(form.error.as_deref(), Some("Choose how the session ended."));
        // Choosing and confirming at once (no render in between) sends the chosen outcome.
        let state = state
            .apply(RunnerAction::FinishOutcome(Outcome::Escalated))
            .apply(RunnerAction::ConfirmDialog);
        assert_eq!(
            state.outbox,
            vec![Command::Finish {
                outcome: Outcome::Escalated,
                summary: None,
                next_steps: None
            }]
        );

        let state = loaded(&["Yes"], false)
            .apply(RunnerAction::Open(Dialog::Paste(String::new())))
            .apply(RunnerAction::ConfirmDialog);
        assert_eq!(state.submitted, 0, "empty output is not sent");
        let state = state
            .apply(RunnerAction::DialogText("  \n".into()))
            .apply(RunnerAction::ConfirmDialog);
        assert_eq!(state.submitted, 0);

        let state = loaded(&["Yes"], false)
            .apply(RunnerAction::Open(Dialog::Custom(String::new())))
            .apply(RunnerAction::DialogText("  Restarted the spooler ".into()))
            .apply(RunnerAction::ConfirmDialog);
        assert_eq!(
            state.outbox,
            vec![Command::CustomStep {
                title: "Restarted the spooler".into()
            }]
        );
    }
}
