//! The library screen: its filter, the answer to the latest request, and keyboard selection.
//!
//! Every change of the filter bumps `request`, and an answer is only taken if it is for the
//! latest request, so a slow search never overwrites the results of a later one.

use std::rc::Rc;

use rf_app_api::{Library, LibraryFilter};
use rf_core::FlowKind;
use uuid::Uuid;
use yew::Reducible;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryState {
    pub filter: LibraryFilter,
    pub library: Option<Library>,
    pub error: Option<String>,
    /// The number of the latest request; answers to older ones are dropped.
    pub request: u64,
    /// The row chosen with ↑/↓.
    pub selected: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LibraryAction {
    Text(String),
    Kind(Option<FlowKind>),
    Category(Option<String>),
    Tag(Option<String>),
    /// Fetch again with the same filter (a teammate's change arrived).
    Refresh,
    Loaded(u64, Library),
    Failed(u64, String),
    /// A pin was toggled; shown at once, the next fetch confirms it.
    Pinned(Uuid, bool),
    Down,
    Up,
}

impl LibraryState {
    pub fn new(text: String) -> LibraryState {
        LibraryState {
            filter: LibraryFilter {
                text,
                ..LibraryFilter::default()
            },
            ..LibraryState::default()
        }
    }

    pub fn apply(mut self, action: LibraryAction) -> LibraryState {
        match action {
            LibraryAction::Text(text) => {
                if self.filter.text != text {
                    self.filter.text = text;
                    self.changed();
                }
            }
            LibraryAction::Kind(kind) => {
                self.filter.kind = kind;
                self.changed();
            }
            LibraryAction::Category(category) => {
                self.filter.category = category.filter(|text| !text.is_empty());
                self.changed();
            }
            LibraryAction::Tag(tag) => {
                self.filter.tag = tag.filter(|text| !text.is_empty());
                self.changed();
            }
            LibraryAction::Refresh => self.request += 1,
            LibraryAction::Loaded(request, library) if request == self.request => {
                let rows = library.flows.len();
                self.library = Some(library);
                self.error = None;
                self.selected = self.selected.filter(|index| *index < rows);
            }
            LibraryAction::Failed(request, error) if request == self.request => {
                self.error = Some(error);
            }
            LibraryAction::Loaded(..) | LibraryAction::Failed(..) => {}
            LibraryAction::Pinned(id, pinned) => {
                if let Some(library) = &mut self.library {
                    for entry in &mut library.flows {
                        if entry.flow.id == id {
                            entry.flow.pinned = pinned;
                        }
                    }
                }
            }
            LibraryAction::Down => {
                let rows = self.rows();
                if rows > 0 {
                    self.selected = Some(match self.selected {
                        Some(index) => (index + 1).min(rows - 1),
                        None => 0,
                    });
                }
            }
            LibraryAction::Up => {
                self.selected = match self.selected {
                    Some(0) | None => None,
                    Some(index) => Some(index - 1),
                };
            }
        }
        self
    }

    fn changed(&mut self) {
        self.request += 1;
        self.selected = None;
    }

    fn rows(&self) -> usize {
        self.library
            .as_ref()
            .map(|library| library.flows.len())
            .unwrap_or(0)
    }

    /// The flow chosen with the arrow keys.
    pub fn selected_flow(&self) -> Option<Uuid> {
        let library = self.library.as_ref()?;
        library.flows.get(self.selected?).map(|entry| entry.flow.id)
    }
}

impl Reducible for LibraryState {
    type Action = LibraryAction;

    fn reduce(self: Rc<Self>, action: LibraryAction) -> Rc<Self> {
        Rc::new((*self).clone().apply(action))
    }
}

/// Splits a search snippet into plain and matched parts: `[matched]` words are highlighted.
pub fn snippet_parts(snippet: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut rest = snippet;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|offset| open + offset) else {
            break;
        };
        if open > 0 {
            parts.push((rest[..open].to_owned(), false));
        }
        if close > open + 1 {
            parts.push((rest[open + 1..close].to_owned(), true));
        }
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push((rest.to_owned(), false));
    }
    parts
}

pub fn kind_from_value(value: &str) -> Option<FlowKind> {
    match value {
        "troubleshooting" => Some(FlowKind::Troubleshooting),
        "procedural" => Some(FlowKind::Procedural),
        "maintenance" => Some(FlowKind::Maintenance),
        _ => None,
    }
}

/// "Troubleshooting", "Procedural", "Maintenance".
pub fn kind_label(kind: FlowKind) -> &'static str {
    match kind {
        FlowKind::Troubleshooting => "Troubleshooting",
        FlowKind::Procedural => "Procedural",
        FlowKind::Maintenance => "Maintenance",
    }
}

/// A flow's line under its title: "Troubleshooting · Network · 15 steps". A category that
/// only repeats the kind ("Maintenance · Maintenance") is said once.
pub fn flow_meta(flow: &rf_app_api::FlowSummary) -> String {
    let kind = kind_label(flow.kind);
    let mut parts = vec![kind.to_owned()];
    if let Some(category) = flow
        .category
        .as_deref()
        .map(str::trim)
        .filter(|category| !category.is_empty() && !category.eq_ignore_ascii_case(kind))
    {
        parts.push(category.to_owned());
    }
    parts.push(if flow.node_count == 1 {
        "1 step".to_owned()
    } else {
        format!("{} steps", flow.node_count)
    });
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flows_line_says_its_kind_category_and_size_without_repeating_itself() {
        let mut flow = rf_app_api::FlowSummary {
            id: Uuid::nil(),
            title: "Monthly patching".into(),
            kind: FlowKind::Maintenance,
            category: Some("Maintenance".into()),
            tags: Vec::new(),
            status: "published".into(),
            version: 1,
            version_id: rf_core::VersionId::from_bytes([1; 32]),
            node_count: 21,
            updated_at: String::new(),
            pinned: false,
        };
        assert_eq!(flow_meta(&flow), "Maintenance · 21 steps");
        flow.category = Some("Servers".into());
        assert_eq!(flow_meta(&flow), "Maintenance · Servers · 21 steps");
        flow.category = Some("  ".into());
        flow.node_count = 1;
        assert_eq!(flow_meta(&flow), "Maintenance · 1 step");
    }
    use crate::state::fixtures::entry;

    fn library(titles: &[&str]) -> Library {
        Library {
            flows: titles
                .iter()
                .enumerate()
                .map(|(index, title)| entry(title, index as u128 + 1))
                .collect(),
            total: titles.len(),
            ..Library::default()
        }
    }

    #[test]
    fn a_slow_answer_to_an_older_search_is_dropped() {
        let state = LibraryState::new(String::new())
            .apply(LibraryAction::Text("dns".into()))
            .apply(LibraryAction::Text("dns fail".into()));
        assert_eq!(state.request, 2);
        let state = state.apply(LibraryAction::Loaded(1, library(&["Old"])));
        assert_eq!(state.library, None);
        let state = state.apply(LibraryAction::Loaded(2, library(&["DNS failure"])));
        assert_eq!(state.library.as_ref().map(|l| l.flows.len()), Some(1));
        // Typing the same text again is not a new search.
        let state = state.apply(LibraryAction::Text("dns fail".into()));
        assert_eq!(state.request, 2);
        assert_eq!(state.filter.text, "dns fail");
    }

    #[test]
    fn filters_and_selection() {
        let state = LibraryState::new("vpn".into())
            .apply(LibraryAction::Kind(Some(FlowKind::Maintenance)))
            .apply(LibraryAction::Category(Some(String::new())))
            .apply(LibraryAction::Tag(Some("citrix".into())));
        assert_eq!(state.filter.kind, Some(FlowKind::Maintenance));
        assert_eq!(state.filter.category, None);
        assert_eq!(state.filter.tag.as_deref(), Some("citrix"));
        let request = state.request;
        let state = state
            .apply(LibraryAction::Loaded(request, library(&["A", "B"])))
            .apply(LibraryAction::Down)
            .apply(LibraryAction::Down)
            .apply(LibraryAction::Down);
        assert_eq!(state.selected, Some(1));
        assert_eq!(state.selected_flow(), Some(Uuid::from_u128(2)));
        let state = state.apply(LibraryAction::Up).apply(LibraryAction::Up);
        assert_eq!(state.selected, None);
        let state = state.apply(LibraryAction::Pinned(Uuid::from_u128(1), true));
        assert!(state.library.as_ref().unwrap().flows[0].flow.pinned);
    }

    #[test]
    fn snippets_highlight_bracketed_words() {
        assert_eq!(
            snippet_parts("check the [DNS] server [cache] now"),
            vec![
                ("check the ".to_string(), false),
                ("DNS".to_string(), true),
                (" server ".to_string(), false),
                ("cache".to_string(), true),
                (" now".to_string(), false),
            ]
        );
        assert_eq!(
            snippet_parts("unclosed [bracket"),
            vec![("unclosed [bracket".to_string(), false)]
        );
        assert_eq!(snippet_parts(""), Vec::<(String, bool)>::new());
    }
}
