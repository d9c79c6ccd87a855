//! Path statistics ("the path most traveled"): for one flow and the team's finished sessions,
//! how often each answer was chosen at each node and how often those sessions ended resolved.
//!
//! A session counts once per node and once per answer even if a re-check loop visits the node
//! several times: the question is "of the sessions that got here, how many chose this", and a
//! loop must not make one stubborn ticket outweigh ten ordinary ones.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::flow::Outcome;
use crate::session::{EntryKind, SessionState};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerStats {
    /// Finished sessions that chose this answer here at least once.
    pub chosen: usize,
    /// Of those, the sessions whose outcome was `resolved`.
    pub resolved: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Finished sessions that reached this node.
    pub reached: usize,
    /// Finished sessions that answered here at least once (the base of the answer shares).
    pub answered: usize,
    /// Of the sessions that reached this node, those that ended resolved.
    pub resolved: usize,
    /// Per answer label, as shown at the time.
    pub answers: BTreeMap<String, AnswerStats>,
}

impl NodeStats {
    /// "chosen 71% of the time; 80% of those resolved", as whole percentages, for one label.
    pub fn shares(&self, label: &str) -> Option<AnswerShare> {
        let stats = self.answers.get(label)?;
        if self.answered == 0 || stats.chosen == 0 {
            return None;
        }
        Some(AnswerShare {
            chosen_percent: percent(stats.chosen, self.answered),
            resolved_percent: percent(stats.resolved, stats.chosen),
            sessions: stats.chosen,
        })
    }
}

/// The two figures shown beside an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerShare {
    pub chosen_percent: u32,
    pub resolved_percent: u32,
    pub sessions: usize,
}

impl std::fmt::Display for AnswerShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chosen {}% of the time; {}% of those resolved ({} session{})",
            self.chosen_percent,
            self.resolved_percent,
            self.sessions,
            if self.sessions == 1 { "" } else { "s" }
        )
    }
}

fn percent(part: usize, whole: usize) -> u32 {
    if whole == 0 {
        return 0;
    }
    // Rounded half up in integers so the UI and the CLI print the same figure.
    u32::try_from((part * 200 + whole) / (whole * 2)).unwrap_or(100)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowStats {
    pub flow_id: Uuid,
    /// Finished sessions that ran this flow, directly or as a subflow.
    pub sessions: usize,
    pub resolved: usize,
    pub nodes: BTreeMap<String, NodeStats>,
}

/// What one finished session adds to the statistics of one flow it ran (directly or as a
/// subflow): each node it reached, answered at, and each answer it chose, once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowContribution {
    pub resolved: bool,
    pub reached: BTreeSet<String>,
    pub answered: BTreeSet<String>,
    pub chosen: BTreeSet<(String, String)>,
}

/// Per flow, what a finished session contributes; empty for a session still open (its outcome
/// is not known yet). Stores keep running totals by adding these when a session finishes.
pub fn contributions(session: &SessionState) -> BTreeMap<Uuid, FlowContribution> {
    let mut by_flow: BTreeMap<Uuid, FlowContribution> = BTreeMap::new();
    let Some(outcome) = session.outcome.filter(|_| session.is_finished()) else {
        return by_flow;
    };
    for entry in &session.path {
        if entry.kind != EntryKind::Step {
            continue;
        }
        let Some(node) = entry.node.as_deref() else {
            continue;
        };
        let flow = by_flow.entry(entry.flow.flow_id).or_default();
        flow.resolved = outcome == Outcome::Resolved;
        flow.reached.insert(node.to_owned());
        if let Some(answer) = entry.answer.as_deref() {
            flow.answered.insert(node.to_owned());
            flow.chosen.insert((node.to_owned(), answer.to_owned()));
        }
    }
    by_flow
}

impl FlowStats {
    /// Adds one session's contribution to this flow's totals.
    pub fn add(&mut self, contribution: &FlowContribution) {
        let resolved = usize::from(contribution.resolved);
        self.sessions += 1;
        self.resolved += resolved;
        for node in &contribution.reached {
            let node_stats = self.nodes.entry(node.clone()).or_default();
            node_stats.reached += 1;
            node_stats.resolved += resolved;
            node_stats.answered += usize::from(contribution.answered.contains(node));
        }
        for (node, answer) in &contribution.chosen {
            let answer_stats = self
                .nodes
                .entry(node.clone())
                .or_default()
                .answers
                .entry(answer.clone())
                .or_default();
            answer_stats.chosen += 1;
            answer_stats.resolved += resolved;
        }
    }
}

/// Computes the statistics of `flow_id` over `sessions`; unfinished sessions are ignored because
/// their outcome is not known yet.
pub fn path_statistics<'a>(
    flow_id: Uuid,
    sessions: impl IntoIterator<Item = &'a SessionState>,
) -> FlowStats {
    let mut stats = FlowStats {
        flow_id,
        ..FlowStats::default()
    };
    for session in sessions {
        if let Some(contribution) = contributions(session).get(&flow_id) {
            stats.add(contribution);
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{
        Choice, Command, EventKind, FlowRef, FlowSet, SessionEvent, SessionState, StartRequest,
        decide, start,
    };
    use crate::{Flow, Outcome};

    const FLOW: &str = r#"{"format": "resolutionflow/v1", "id": "7b0f7a39-3c4b-4e8e-9d55-0c2f0b1e6a10",
      "kind": "troubleshooting", "title": "Share", "start": "reach",
      "nodes": [
        {"id": "reach", "type": "question", "title": "Reachable?",
         "answers": [{"label": "Yes", "next": "perms"}, {"label": "No", "next": "fw"}]},
        {"id": "fw", "type": "action", "title": "Open the firewall", "next": "reach"},
        {"id": "perms", "type": "resolution", "title": "Fix permissions", "outcome": "resolved"}
      ]}"#;

    fn run(flows: &FlowSet, id: Uuid, answers: &[&str], outcome: Outcome) -> SessionState {
        let at = time::macros::datetime!(2026-11-23 10:00 UTC);
        let stamp = |kind: EventKind| SessionEvent { at, kind };
        let events: Vec<SessionEvent> = start(flows, id, StartRequest::default())
            .unwrap()
            .into_iter()
            .map(stamp)
            .collect();
        let mut state = SessionState::replay(&events).unwrap();
        let mut commands: Vec<Command> = answers
            .iter()
            .map(|label| Command::Answer {
                choice: Choice::Label((*label).to_owned()),
            })
            .collect();
        commands.push(Command::Finish {
            outcome,
            summary: None,
            next_steps: None,
        });
        for command in commands {
            for kind in decide(&state, flows, command).unwrap() {
                state.apply(&stamp(kind)).unwrap();
            }
        }
        state
    }

    #[test]
    fn counts_each_session_once_per_answer_and_rounds_shares() {
        let flow = Flow::parse(FLOW).unwrap();
        let id = flow.id.unwrap();
        let mut flows = FlowSet::new();
        flows.insert(FlowRef::of(id, &flow), flow);
        let sessions = [
            run(&flows, id, &["yes"], Outcome::Resolved),
            run(&flows, id, &["no", "done", "yes"], Outcome::Resolved),
            run(
                &flows,
                id,
                &["no", "done", "no", "done", "yes"],
                Outcome::Escalated,
            ),
        ];
        let stats = path_statistics(id, &sessions);
        assert_eq!(stats.sessions, 3);
        assert_eq!(stats.resolved, 2);
        let reach = &stats.nodes["reach"];
        assert_eq!(reach.reached, 3);
        assert_eq!(reach.answered, 3);
        assert_eq!(
            reach.answers["Yes"],
            AnswerStats {
                chosen: 3,
                resolved: 2
            }
        );
        assert_eq!(
            reach.answers["No"],
            AnswerStats {
                chosen: 2,
                resolved: 1
            }
        );
        let no = reach.shares("No").unwrap();
        assert_eq!((no.chosen_percent, no.resolved_percent), (67, 50));
        assert_eq!(
            no.to_string(),
            "chosen 67% of the time; 50% of those resolved (2 sessions)"
        );
        assert_eq!(stats.nodes["fw"].reached, 2);
        assert!(reach.shares("Maybe").is_none());
    }

    #[test]
    fn unfinished_and_other_flows_are_ignored() {
        let flow = Flow::parse(FLOW).unwrap();
        let id = flow.id.unwrap();
        let mut flows = FlowSet::new();
        flows.insert(FlowRef::of(id, &flow), flow);
        let mut open = run(&flows, id, &["yes"], Outcome::Resolved);
        open.status = crate::session::SessionStatus::Active;
        let finished = run(&flows, id, &["yes"], Outcome::Resolved);
        assert_eq!(path_statistics(id, [&open]).sessions, 0);
        assert_eq!(path_statistics(Uuid::nil(), [&finished]).sessions, 0);
        assert_eq!(
            path_statistics(id, [&finished]).nodes["reach"]
                .answers
                .len(),
            1
        );
    }

    #[test]
    fn percent_rounds_half_up() {
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(2, 3), 67);
        assert_eq!(percent(1, 2), 50);
        assert_eq!(percent(1, 8), 13);
        assert_eq!(percent(0, 0), 0);
    }
}
