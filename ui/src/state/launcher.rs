//! The quick launcher: fuzzy matching over pinned, recent and library flows, pinned first.

use std::collections::BTreeSet;
use std::rc::Rc;

use rf_app_api::FlowSummary;
use uuid::Uuid;
use yew::Reducible;

/// The most results the launcher lists.
pub const MAX_RESULTS: usize = 8;

/// How well `query` matches `title`: `None` when its letters do not all appear in order.
/// Higher is better. A prefix of the title beats a prefix of a later word, which beats
/// letters scattered through the title; shorter titles win ties.
pub fn fuzzy_score(query: &str, title: &str) -> Option<i64> {
    let query: Vec<char> = query
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let lowered = title.to_lowercase();
    if query.is_empty() {
        return Some(0);
    }
    let compact: String = query.iter().collect();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let joined: String = words.concat();
    let mut score: i64 = 0;
    if joined.starts_with(&compact) {
        score += 1_000;
    } else if words.iter().any(|word| word.starts_with(&compact)) {
        score += 600;
    } else if lowered.contains(&compact) {
        score += 300;
    }
    // Without a whole-word match, letters must start words or follow the previous match
    // ("prq" finds "Printer offline, queue stuck"), so stray letters do not match.
    let strict = score == 0;
    let chars: Vec<char> = lowered.chars().collect();
    let starts_word = |index: usize| index == 0 || !chars[index - 1].is_alphanumeric();
    let mut position = 0;
    let mut previous: Option<usize> = None;
    for wanted in &query {
        let found = (position..chars.len()).find(|index| {
            chars[*index] == *wanted
                && (!strict
                    || starts_word(*index)
                    || previous.is_some_and(|last| last + 1 == *index))
        })?;
        let word_start = starts_word(found);
        if word_start {
            score += 30;
        }
        if previous.is_some_and(|last| last + 1 == found) {
            score += 15;
        }
        score -= (found - position) as i64;
        previous = Some(found);
        position = found + 1;
    }
    Some(score - chars.len() as i64 / 4)
}

/// Ranks flows for `query`: matching ones only, pinned first, then by score, each flow once.
pub fn rank(query: &str, flows: &[FlowSummary]) -> Vec<FlowSummary> {
    let mut seen = BTreeSet::new();
    let mut scored: Vec<(bool, i64, usize, &FlowSummary)> = flows
        .iter()
        .enumerate()
        .filter(|(_, flow)| seen.insert(flow.id))
        .filter_map(|(order, flow)| {
            fuzzy_score(query, &flow.title).map(|score| (flow.pinned, score, order, flow))
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    scored
        .into_iter()
        .take(MAX_RESULTS)
        .map(|(_, _, _, flow)| flow.clone())
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LauncherState {
    pub query: String,
    /// Every flow the launcher knows: pinned, recent, then the library.
    pub flows: Vec<FlowSummary>,
    pub results: Vec<FlowSummary>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LauncherAction {
    Flows(Vec<FlowSummary>),
    Query(String),
    Down,
    Up,
}

impl LauncherState {
    pub fn apply(mut self, action: LauncherAction) -> LauncherState {
        match action {
            LauncherAction::Flows(flows) => {
                self.flows = flows;
                self.rerank();
            }
            LauncherAction::Query(query) => {
                self.query = query;
                self.rerank();
            }
            LauncherAction::Down => {
                if !self.results.is_empty() {
                    self.selected = (self.selected + 1).min(self.results.len() - 1);
                }
            }
            LauncherAction::Up => self.selected = self.selected.saturating_sub(1),
        }
        self
    }

    fn rerank(&mut self) {
        self.results = rank(&self.query, &self.flows);
        self.selected = 0;
    }

    pub fn chosen(&self) -> Option<Uuid> {
        self.results.get(self.selected).map(|flow| flow.id)
    }
}

impl Reducible for LauncherState {
    type Action = LauncherAction;

    fn reduce(self: Rc<Self>, action: LauncherAction) -> Rc<Self> {
        Rc::new((*self).clone().apply(action))
    }
}

#[cfg(test)]
mod tests {
    use rf_core::FlowKind;

    use super::*;
    use crate::state::fixtures::summary;

    fn titles(flows: &[FlowSummary]) -> Vec<&str> {
        flows.iter().map(|flow| flow.title.as_str()).collect()
    }

    #[test]
    fn prefix_matches_rank_before_scattered_letters() {
        let flows = vec![
            summary(
                "Outlook credential prompts",
                1,
                FlowKind::Troubleshooting,
                false,
            ),
            summary(
                "DNS resolution failure",
                2,
                FlowKind::Troubleshooting,
                false,
            ),
            summary(
                "Printer offline, queue stuck",
                3,
                FlowKind::Troubleshooting,
                false,
            ),
            summary("Add DNS record", 4, FlowKind::Procedural, false),
        ];
        assert_eq!(
            titles(&rank("dns", &flows)),
            ["DNS resolution failure", "Add DNS record"]
        );
        assert_eq!(
            titles(&rank("prq", &flows)),
            ["Printer offline, queue stuck"]
        );
        assert!(rank("zzz", &flows).is_empty());
        assert!(
            fuzzy_score("dnsres", "DNS resolution failure")
                > fuzzy_score("dnsres", "Add DNS record resolve")
        );
    }

    #[test]
    fn pinned_flows_come_first_and_each_flow_once() {
        let flows = vec![
            summary(
                "DNS resolution failure",
                1,
                FlowKind::Troubleshooting,
                false,
            ),
            summary(
                "Citrix VDA not registering",
                2,
                FlowKind::Troubleshooting,
                true,
            ),
            summary(
                "DNS resolution failure",
                1,
                FlowKind::Troubleshooting,
                false,
            ),
        ];
        assert_eq!(
            titles(&rank("", &flows)),
            ["Citrix VDA not registering", "DNS resolution failure"]
        );
        // A pinned flow matching worse still comes first.
        let flows = vec![
            summary(
                "Re-register the Citrix VDA",
                3,
                FlowKind::Troubleshooting,
                true,
            ),
            summary("VDA not registering", 4, FlowKind::Troubleshooting, false),
        ];
        assert_eq!(
            titles(&rank("vda", &flows)),
            ["Re-register the Citrix VDA", "VDA not registering"]
        );
    }

    #[test]
    fn arrows_move_within_the_results() {
        let state = LauncherState::default()
            .apply(LauncherAction::Flows(vec![
                summary("Alpha", 1, FlowKind::Troubleshooting, false),
                summary("Beta", 2, FlowKind::Troubleshooting, false),
            ]))
            .apply(LauncherAction::Down)
            .apply(LauncherAction::Down);
        assert_eq!(state.chosen(), Some(Uuid::from_u128(2)));
        let state = state.apply(LauncherAction::Query("alp".into()));
        assert_eq!(state.selected, 0);
        assert_eq!(state.chosen(), Some(Uuid::from_u128(1)));
        let state = state.apply(LauncherAction::Up);
        assert_eq!(state.selected, 0);
    }
}
