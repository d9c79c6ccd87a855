//! The app's icons: 24×24 stroke drawings, shipped inline (nothing from a CDN). They are
//! decorative (`aria-hidden`): the button or link around them carries the label.

use rf_core::FlowKind;
use yew::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    Home,
    Library,
    Sessions,
    Search,
    Pin,
    Sync,
    Copy,
    Back,
    Plus,
    Flag,
    Terminal,
    Keyboard,
    Close,
    Check,
    Alert,
    Link,
    ChevronRight,
    Play,
    /// Troubleshooting: a branching path.
    Branch,
    /// Procedural: a checklist.
    Checklist,
    /// Maintenance: a wrench.
    Wrench,
    /// Settings: sliders.
    Settings,
    Paperclip,
}

impl Icon {
    pub fn of_kind(kind: FlowKind) -> Icon {
        match kind {
            FlowKind::Troubleshooting => Icon::Branch,
            FlowKind::Procedural => Icon::Checklist,
            FlowKind::Maintenance => Icon::Wrench,
        }
    }

    fn paths(self) -> Html {
        match self {
            Icon::Paperclip => html! { <>
                <path d="m20 11.5-7.8 7.8a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8" />
            </> },
            Icon::Settings => html! { <>
                <path d="M4 7h9" />
                <path d="M17 7h3" />
                <circle cx="15" cy="7" r="2" />
                <path d="M4 17h3" />
                <path d="M11 17h9" />
                <circle cx="9" cy="17" r="2" />
            </> },
            Icon::Home => html! { <>
                <path d="M3 10.5 12 3l9 7.5" />
                <path d="M5 9.5V20h5v-6h4v6h5V9.5" />
            </> },
            Icon::Library => html! { <>
                <path d="M3.5 4h4v16h-4z" />
                <path d="M9.5 4h4v16h-4z" />
                <path d="m15 5.2 3.8-1 2.9 15.5-3.8 1z" />
            </> },
            Icon::Sessions => html! { <>
                <circle cx="12" cy="12" r="8.5" />
                <path d="M12 7.5V12l3 2" />
            </> },
            Icon::Search => html! { <>
                <circle cx="11" cy="11" r="6.5" />
                <path d="m16 16 4.5 4.5" />
            </> },
            Icon::Pin => html! { <>
                <path d="M12 3.5 14.6 9l5.9.6-4.4 4 1.3 5.9L12 16.5l-5.4 3 1.3-5.9-4.4-4 5.9-.6z" />
            </> },
            Icon::Sync => html! { <>
                <path d="M20 11a8 8 0 0 0-14.3-4.6L4 8" />
                <path d="M4 4v4h4" />
                <path d="M4 13a8 8 0 0 0 14.3 4.6L20 16" />
                <path d="M20 20v-4h-4" />
            </> },
            Icon::Copy => html! { <>
                <rect x="8.5" y="8.5" width="11" height="11" rx="2" />
                <path d="M15.5 8.5V6a1.5 1.5 0 0 0-1.5-1.5H6A1.5 1.5 0 0 0 4.5 6v8A1.5 1.5 0 0 0 6 15.5h2.5" />
            </> },
            Icon::Back => html! { <>
                <path d="M10 6 4 12l6 6" />
                <path d="M4 12h16" />
            </> },
            Icon::Plus => html! { <>
                <path d="M12 5v14M5 12h14" />
            </> },
            Icon::Flag => html! { <>
                <path d="M5 21V4" />
                <path d="M5 4h11l-2 4 2 4H5" />
            </> },
            Icon::Terminal => html! { <>
                <rect x="3" y="4.5" width="18" height="15" rx="2" />
                <path d="m7 9.5 3 2.5-3 2.5M12.5 15H17" />
            </> },
            Icon::Keyboard => html! { <>
                <rect x="2.5" y="6" width="19" height="12" rx="2" />
                <path d="M6 10h.01M9 10h.01M12 10h.01M15 10h.01M18 10h.01M8 14h8" />
            </> },
            Icon::Close => html! { <>
                <path d="M6 6l12 12M18 6 6 18" />
            </> },
            Icon::Check => html! { <>
                <path d="m5 12.5 4.5 4.5L19 7.5" />
            </> },
            Icon::Alert => html! { <>
                <path d="M12 3.5 21.5 20h-19z" />
                <path d="M12 10v4.5M12 17.5h.01" />
            </> },
            Icon::Link => html! { <>
                <path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1" />
                <path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1" />
            </> },
            Icon::ChevronRight => html! { <>
                <path d="m9 6 6 6-6 6" />
            </> },
            Icon::Play => html! { <>
                <path d="M7 4.5v15l12-7.5z" />
            </> },
            Icon::Branch => html! { <>
                <circle cx="6" cy="5.5" r="2" />
                <circle cx="6" cy="18.5" r="2" />
                <circle cx="18" cy="8.5" r="2" />
                <path d="M6 7.5v9M18 10.5c0 4-6 3-11 6.5" />
            </> },
            Icon::Checklist => html! { <>
                <path d="m4 6.5 1.5 1.5 3-3M4 13.5l1.5 1.5 3-3" />
                <path d="M11.5 7h8.5M11.5 14h8.5M11.5 19.5h8.5M5 19.5h.01" />
            </> },
            Icon::Wrench => html! { <>
                <path d="M14.5 6.5a4 4 0 0 0 5 5l-8.8 8.8a2.1 2.1 0 0 1-3-3l8.8-8.8a4 4 0 0 1-2-2z" />
                <path d="M14.5 6.5 17 4l3 3-2.5 2.5" />
            </> },
        }
    }
}

#[derive(Debug, Properties, PartialEq)]
pub struct IconProps {
    pub icon: Icon,
    #[prop_or(18)]
    pub size: u32,
}

#[function_component]
pub fn Svg(props: &IconProps) -> Html {
    let size = props.size.to_string();
    html! {
        <svg class="icon" width={size.clone()} height={size} viewBox="0 0 24 24" fill="none"
            stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round"
            aria-hidden="true" focusable="false">
            { props.icon.paths() }
        </svg>
    }
}
