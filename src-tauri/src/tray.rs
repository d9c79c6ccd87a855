//! The tray: its menu is a pure function of where sync stands and what the engineer reaches
//! for ([`model`]), rebuilt whenever either changes (and only then: on Linux a menu replaced
//! while open stays stale until reopened, so needless rebuilds cost more than they look).
//! Linux trays are menu-only: every action is a menu item.

use rf_app_api::events::SyncStatus;
use rf_app_api::{FlowSummary, Home};
use uuid::Uuid;

/// Quick-launch entries at most (pinned first, then recent).
pub const QUICK_LAUNCH: usize = 10;

/// The menu, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    /// The disabled first line: "ResolutionFlow — online · 3 pending".
    pub status_line: String,
    pub quick_launch: Vec<QuickItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickItem {
    pub flow_id: Uuid,
    pub label: String,
}

/// Menu item ids.
pub const STATUS: &str = "status";
pub const NEW_SESSION: &str = "new-session";
pub const SYNC_NOW: &str = "sync-now";
pub const OPEN: &str = "open";
pub const QUIT: &str = "quit";
const RUN: &str = "run:";

/// What a clicked menu item asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Run(Uuid),
    NewSession,
    SyncNow,
    Open,
    Quit,
}

pub fn action(id: &str) -> Option<Action> {
    match id {
        NEW_SESSION => Some(Action::NewSession),
        SYNC_NOW => Some(Action::SyncNow),
        OPEN => Some(Action::Open),
        QUIT => Some(Action::Quit),
        _ => id
            .strip_prefix(RUN)
            .and_then(|flow| Uuid::parse_str(flow).ok())
            .map(Action::Run),
    }
}

pub fn run_id(flow_id: Uuid) -> String {
    format!("{RUN}{flow_id}")
}

pub fn model(status: &SyncStatus, home: &Home) -> TrayModel {
    TrayModel {
        status_line: format!("ResolutionFlow — {}", status_words(status)),
        quick_launch: quick_launch(home),
    }
}

fn status_words(status: &SyncStatus) -> String {
    let report = &status.report;
    let state = if report.sync.is_none() {
        "not signed in"
    } else if status.login_problem.is_some() {
        "sign in needed"
    } else if status.sync_problem.is_some() {
        "sync stopped"
    } else if status.syncing {
        "syncing"
    } else {
        match report.online {
            Some(true) => "online",
            Some(false) => "offline",
            None => "connecting",
        }
    };
    let mut words = state.to_string();
    let pending = report.pending.pending();
    if pending > 0 {
        words.push_str(&format!(" · {pending} pending"));
    }
    match report.conflicts {
        0 => {}
        1 => words.push_str(" · 1 conflict"),
        many => words.push_str(&format!(" · {many} conflicts")),
    }
    words
}

fn quick_launch(home: &Home) -> Vec<QuickItem> {
    let pinned = home.pinned.iter().map(|flow| item(flow, true));
    let recent = home
        .recent
        .iter()
        .filter(|flow| !home.pinned.iter().any(|pinned| pinned.id == flow.id))
        .map(|flow| item(flow, false));
    pinned.chain(recent).take(QUICK_LAUNCH).collect()
}

fn item(flow: &FlowSummary, pinned: bool) -> QuickItem {
    // Menu labels are one line; an `&` would be read as a mnemonic marker by some toolkits.
    let title: String = flow
        .title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .replace('&', "&&");
    let title = match title.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &title[..cut]),
        None => title,
    };
    QuickItem {
        flow_id: flow.id,
        label: if pinned {
            format!("★ {title}")
        } else {
            title
        },
    }
}

/// Builds the menu for a model.
pub fn menu<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    model: &TrayModel,
) -> tauri::Result<tauri::menu::Menu<R>> {
    use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
    let status = MenuItem::with_id(app, STATUS, &model.status_line, false, None::<&str>)?;
    let flows = model
        .quick_launch
        .iter()
        .map(|item| MenuItem::with_id(app, run_id(item.flow_id), &item.label, true, None::<&str>))
        .collect::<tauri::Result<Vec<_>>>()?;
    let quick = Submenu::with_id(app, "quick-launch", "Quick launch", true)?;
    if flows.is_empty() {
        quick.append(&MenuItem::with_id(
            app,
            "quick-empty",
            "No pinned or recent flows yet",
            false,
            None::<&str>,
        )?)?;
    }
    for flow in &flows {
        quick.append(flow)?;
    }
    let items: [&dyn IsMenuItem<R>; 8] = [
        &status,
        &PredefinedMenuItem::separator(app)?,
        &quick,
        &MenuItem::with_id(app, NEW_SESSION, "New session…", true, None::<&str>)?,
        &MenuItem::with_id(app, SYNC_NOW, "Sync now", true, None::<&str>)?,
        &PredefinedMenuItem::separator(app)?,
        &MenuItem::with_id(app, OPEN, "Open ResolutionFlow", true, None::<&str>)?,
        &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
    ];
    Menu::with_items(app, &items)
}

#[cfg(test)]
mod tests {
    use rf_app_api::{StatusReport, SyncAccount, SyncBacklog};

    use super::*;

    fn flow(n: u128, title: &str) -> FlowSummary {
        FlowSummary {
            id: Uuid::from_u128(n),
            title: title.into(),
            kind: rf_core::FlowKind::Troubleshooting,
            category: None,
            tags: Vec::new(),
            status: "published".into(),
            version: 1,
            version_id: rf_core::VersionId::from_bytes([n as u8; 32]),
            node_count: 3,
            updated_at: String::new(),
            pinned: false,
        }
    }

    fn status(online: Option<bool>, logged_in: bool, events: u64, conflicts: usize) -> SyncStatus {
        SyncStatus {
            report: StatusReport {
                data_dir: String::new(),
                device_id: Uuid::nil(),
                schema_version: 13,
                pending: SyncBacklog {
                    events,
                    ..SyncBacklog::default()
                },
                online,
                sync: logged_in.then(|| SyncAccount {
                    server_url: "http://127.0.0.1:8787".into(),
                    team_id: Uuid::nil(),
                    user_id: Uuid::nil(),
                    email: "ada@contoso.example".into(),
                    pulled_seq: 0,
                    last_sync_at: None,
                    last_error: None,
                }),
                conflicts,
            },
            syncing: false,
            login_problem: None,
            sync_problem: None,
        }
    }

    #[test]
    fn the_status_line_says_where_sync_stands_in_a_few_words() {
        let home = Home::default();
        let line = |status: &SyncStatus| model(status, &home).status_line;
        assert_eq!(
            line(&status(Some(true), true, 0, 0)),
            "ResolutionFlow — online"
        );
        assert_eq!(
            line(&status(Some(false), true, 3, 1)),
            "ResolutionFlow — offline · 3 pending · 1 conflict"
        );
        assert_eq!(
            line(&status(None, false, 2, 0)),
            "ResolutionFlow — not signed in · 2 pending"
        );
        let mut syncing = status(Some(true), true, 0, 2);
        syncing.syncing = true;
        assert_eq!(line(&syncing), "ResolutionFlow — syncing · 2 conflicts");
        let mut refused = status(Some(true), true, 1, 0);
        refused.sync_problem = Some("update the app".into());
        assert_eq!(line(&refused), "ResolutionFlow — sync stopped · 1 pending");
        refused.login_problem = Some("expired".into());
        assert_eq!(
            line(&refused),
            "ResolutionFlow — sign in needed · 1 pending"
        );
    }

    #[test]
    fn quick_launch_lists_pinned_first_then_recent_once_each_and_at_most_ten() {
        let mut pinned = flow(1, "DNS & DHCP");
        pinned.pinned = true;
        let recent: Vec<_> = (2..20).map(|n| flow(n, &format!("Flow {n}"))).collect();
        let home = Home {
            pinned: vec![pinned.clone()],
            recent: [vec![pinned.clone()], recent].concat(),
            ..Home::default()
        };
        let items = model(&status(Some(true), true, 0, 0), &home).quick_launch;
        assert_eq!(items.len(), QUICK_LAUNCH);
        assert_eq!(items[0].label, "★ DNS && DHCP");
        assert_eq!(items[1].label, "Flow 2");
        assert_eq!(
            items
                .iter()
                .filter(|item| item.flow_id == pinned.id)
                .count(),
            1
        );
        assert_eq!(
            action(&run_id(items[1].flow_id)),
            Some(Action::Run(items[1].flow_id))
        );
        assert_eq!(action("run:nonsense"), None);
        assert_eq!(action(QUIT), Some(Action::Quit));
    }

    #[test]
    fn long_or_broken_titles_stay_one_short_line() {
        let home = Home {
            recent: vec![flow(1, &format!("{}\nsecond line", "x".repeat(100)))],
            ..Home::default()
        };
        let label = &model(&status(None, false, 0, 0), &home).quick_launch[0].label;
        assert!(!label.contains('\n'));
        assert_eq!(label.chars().count(), 61, "{label}");
    }
}
