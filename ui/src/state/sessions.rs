//! The sessions list: every session, filtered here by status, outcome, client and ticket.

use std::rc::Rc;

use rf_app_api::SessionSummary;
use yew::Reducible;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// `active` or `finished`; empty for any.
    pub status: String,
    /// An outcome's name; empty for any.
    pub outcome: String,
    /// Words in the client's name, any case.
    pub client: String,
    /// Words in the ticket reference, any case.
    pub ticket: String,
}

impl SessionFilter {
    pub fn matches(&self, session: &SessionSummary) -> bool {
        let contains = |haystack: &str, needle: &str| {
            let needle = needle.trim().to_lowercase();
            needle.is_empty() || haystack.to_lowercase().contains(&needle)
        };
        (self.status.is_empty() || session.status == self.status)
            && (self.outcome.is_empty() || session.outcome.as_deref() == Some(&*self.outcome))
            && contains(&session.client, &self.client)
            && contains(&session.ticket, &self.ticket)
    }

    pub fn is_empty(&self) -> bool {
        *self == SessionFilter::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionsState {
    pub sessions: Option<Vec<SessionSummary>>,
    pub error: Option<String>,
    pub filter: SessionFilter,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionsAction {
    Loaded(Vec<SessionSummary>),
    Failed(String),
    Status(String),
    Outcome(String),
    Client(String),
    Ticket(String),
    Clear,
}

impl SessionsState {
    pub fn apply(mut self, action: SessionsAction) -> SessionsState {
        match action {
            SessionsAction::Loaded(sessions) => {
                self.sessions = Some(sessions);
                self.error = None;
            }
            SessionsAction::Failed(error) => self.error = Some(error),
            SessionsAction::Status(status) => self.filter.status = status,
            SessionsAction::Outcome(outcome) => {
                // Only finished sessions have an outcome.
                if !outcome.is_empty() && self.filter.status == "active" {
                    self.filter.status.clear();
                }
                self.filter.outcome = outcome;
            }
            SessionsAction::Client(client) => self.filter.client = client,
            SessionsAction::Ticket(ticket) => self.filter.ticket = ticket,
            SessionsAction::Clear => self.filter = SessionFilter::default(),
        }
        self
    }

    /// The sessions the filter lets through, in the order they came (newest first).
    pub fn visible(&self) -> Vec<&SessionSummary> {
        self.sessions
            .iter()
            .flatten()
            .filter(|session| self.filter.matches(session))
            .collect()
    }
}

impl Reducible for SessionsState {
    type Action = SessionsAction;

    fn reduce(self: Rc<Self>, action: SessionsAction) -> Rc<Self> {
        Rc::new((*self).clone().apply(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixtures::session;

    fn tickets(state: &SessionsState) -> Vec<&str> {
        state
            .visible()
            .iter()
            .map(|session| session.ticket.as_str())
            .collect()
    }

    #[test]
    fn sessions_filter_by_status_outcome_client_and_ticket() {
        let state = SessionsState::default().apply(SessionsAction::Loaded(vec![
            session(1, "T-1001", "Acme Dental", None),
            session(2, "T-1002", "Acme Dental", Some("resolved")),
            session(3, "T-2001", "Borealis Law", Some("escalated")),
            session(4, "T-2002", "Borealis Law", Some("resolved")),
        ]));
        assert_eq!(tickets(&state).len(), 4);

        let active = state.clone().apply(SessionsAction::Status("active".into()));
        assert_eq!(tickets(&active), ["T-1001"]);

        let resolved = state
            .clone()
            .apply(SessionsAction::Outcome("resolved".into()));
        assert_eq!(tickets(&resolved), ["T-1002", "T-2002"]);

        let borealis = resolved
            .clone()
            .apply(SessionsAction::Client("  boreal ".into()));
        assert_eq!(tickets(&borealis), ["T-2002"]);

        let ticket = state.clone().apply(SessionsAction::Ticket("t-20".into()));
        assert_eq!(tickets(&ticket), ["T-2001", "T-2002"]);

        let cleared = borealis.apply(SessionsAction::Clear);
        assert!(cleared.filter.is_empty());
        assert_eq!(tickets(&cleared).len(), 4);
    }

    #[test]
    fn choosing_an_outcome_drops_the_active_status_filter() {
        let state = SessionsState::default()
            .apply(SessionsAction::Status("active".into()))
            .apply(SessionsAction::Outcome("escalated".into()));
        assert_eq!(state.filter.status, "");
        assert_eq!(state.filter.outcome, "escalated");
    }
}
