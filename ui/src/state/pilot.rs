//! FlowPilot's panel at a step, as a reducer: idle, asking (the answer so far, as it
//! streams), done (the suggestions read from it), or unavailable (offline, not set up, the
//! cap reached: said calmly, the team's path statistics still on each answer) or failed.

use std::rc::Rc;

use rf_app_api::{CommandError, ErrorKind};
use rf_core::ai::PilotDone;
use yew::Reducible;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PilotPhase {
    #[default]
    Idle,
    Asking(String),
    Done(PilotDone),
    /// FlowPilot cannot be reached or used now; why, in words.
    Unavailable(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PilotAction {
    Ask,
    Text(String),
    Done(PilotDone),
    Failed(CommandError),
}

impl Reducible for PilotPhase {
    type Action = PilotAction;

    fn reduce(self: Rc<Self>, action: PilotAction) -> Rc<Self> {
        Rc::new(match (&*self, action) {
            (_, PilotAction::Ask) => PilotPhase::Asking(String::new()),
            (PilotPhase::Asking(so_far), PilotAction::Text(text)) => {
                PilotPhase::Asking(format!("{so_far}{text}"))
            }
            // Text that arrives after the answer ended (or before a question) is late: dropped.
            (_, PilotAction::Text(_)) => return self,
            (_, PilotAction::Done(done)) => PilotPhase::Done(done),
            (_, PilotAction::Failed(error)) => match error.kind {
                ErrorKind::Sync | ErrorKind::NotLoggedIn => PilotPhase::Unavailable(error.message),
                _ => PilotPhase::Failed(error.message),
            },
        })
    }
}

impl PilotPhase {
    pub fn asking(&self) -> bool {
        matches!(self, PilotPhase::Asking(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(actions: Vec<PilotAction>) -> PilotPhase {
        let mut phase = Rc::new(PilotPhase::Idle);
        for action in actions {
            phase = phase.reduce(action);
        }
        (*phase).clone()
    }

    #[test]
    fn the_answer_streams_in_then_settles_and_late_text_is_dropped() {
        use PilotAction::*;
        assert_eq!(
            run(vec![Ask, Text("ANSWER: ".into()), Text("No".into())]),
            PilotPhase::Asking("ANSWER: No".into())
        );
        let done = PilotDone {
            text: "ANSWER: No".into(),
            ..PilotDone::default()
        };
        assert_eq!(
            run(vec![
                Ask,
                Text("x".into()),
                Done(done.clone()),
                Text("late".into())
            ]),
            PilotPhase::Done(done)
        );
        assert_eq!(run(vec![Text("early".into())]), PilotPhase::Idle);
        // Asking again starts afresh.
        assert_eq!(
            run(vec![Ask, Text("x".into()), Ask]),
            PilotPhase::Asking(String::new())
        );
    }

    #[test]
    fn offline_is_unavailable_and_other_errors_fail() {
        use PilotAction::*;
        let offline = CommandError::new(ErrorKind::Sync, "cannot reach the sync server");
        assert_eq!(
            run(vec![Ask, Failed(offline)]),
            PilotPhase::Unavailable("cannot reach the sync server".into())
        );
        let broken = CommandError::new(ErrorKind::Storage, "disk full");
        assert_eq!(
            run(vec![Ask, Failed(broken)]),
            PilotPhase::Failed("disk full".into())
        );
    }
}
