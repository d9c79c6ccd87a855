//! Small browser helpers: focus, the clock, spawning, and whether a key press happened in a
//! text field. Browser-only: the host tests never call them.

use std::future::Future;

use time::OffsetDateTime;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, EventTarget, HtmlElement};

use crate::state::status::from_millis;

pub fn document() -> Option<Document> {
    web_sys::window()?.document()
}

/// Listens to key presses on the whole page until the listener is dropped. Not passive: the
/// handler may prevent a key's default (a shortcut must not also type its letter).
pub fn on_keydown(
    mut handler: impl FnMut(&web_sys::KeyboardEvent) + 'static,
) -> Option<gloo_events::EventListener> {
    let document = document()?;
    Some(gloo_events::EventListener::new_with_options(
        &document,
        "keydown",
        gloo_events::EventListenerOptions::enable_prevent_default(),
        move |event| {
            if let Some(event) = event.dyn_ref::<web_sys::KeyboardEvent>() {
                handler(event);
            }
        },
    ))
}

/// Focuses the element with `id`, if it is on the page.
pub fn focus(id: &str) {
    if let Some(element) = document()
        .and_then(|document| document.get_element_by_id(id))
        .and_then(|element| element.dyn_into::<HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// Focuses the first element matching `selector`.
pub fn focus_selector(selector: &str) {
    if let Some(element) = document()
        .and_then(|document| document.query_selector(selector).ok().flatten())
        .and_then(|element| element.dyn_into::<HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

pub fn exists(id: &str) -> bool {
    document()
        .and_then(|document| document.get_element_by_id(id))
        .is_some()
}

/// Leaves whatever field has the focus.
pub fn blur_active() {
    if let Some(element) = document()
        .and_then(|document| document.active_element())
        .and_then(|element| element.dyn_into::<HtmlElement>().ok())
    {
        let _ = element.blur();
    }
}

/// Whether typing at `target` is typing text (an input, a textarea, a select, an editable
/// element), where single-letter shortcuts must not fire.
pub fn is_text_field(target: Option<EventTarget>) -> bool {
    let Some(element) = target.and_then(|target| target.dyn_into::<Element>().ok()) else {
        return false;
    };
    match element.tag_name().to_ascii_uppercase().as_str() {
        "TEXTAREA" | "SELECT" => true,
        "INPUT" => {
            let kind = element
                .get_attribute("type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            !matches!(
                kind.as_str(),
                "checkbox" | "radio" | "button" | "submit" | "reset"
            )
        }
        _ => element
            .dyn_ref::<HtmlElement>()
            .is_some_and(|element| element.is_content_editable()),
    }
}

/// The value of the input, textarea or select an event came from.
pub fn target_value(target: Option<EventTarget>) -> String {
    let Some(target) = target else {
        return String::new();
    };
    if let Some(input) = target.dyn_ref::<web_sys::HtmlInputElement>() {
        return input.value();
    }
    if let Some(area) = target.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        return area.value();
    }
    if let Some(select) = target.dyn_ref::<web_sys::HtmlSelectElement>() {
        return select.value();
    }
    String::new()
}

pub fn target_checked(target: Option<EventTarget>) -> bool {
    target
        .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
        .is_some_and(|input| input.checked())
}

pub fn now() -> OffsetDateTime {
    from_millis(js_sys::Date::now())
}

/// Applies a theme: `data-theme` on the root element picks the tokens' light or dark half;
/// without it the system's setting does.
pub fn set_theme(theme: rf_app_api::Theme) {
    let Some(root) = document().and_then(|document| document.document_element()) else {
        return;
    };
    let _ = match theme {
        rf_app_api::Theme::System => root.remove_attribute("data-theme"),
        chosen => root.set_attribute("data-theme", chosen.as_str()),
    };
}

/// A warning in the webview's console (seen with the web inspector), for what the engineer
/// cannot act on.
pub fn log(text: &str) {
    web_sys::console::warn_1(&text.into());
}

pub fn spawn(future: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(future);
}

/// Focuses an input and puts the caret after its text (typing goes on where it left off).
pub fn focus_end(id: &str) {
    if let Some(input) = document()
        .and_then(|document| document.get_element_by_id(id))
        .and_then(|element| element.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        let _ = input.focus();
        let end = input.value().encode_utf16().count() as u32;
        let _ = input.set_selection_range(end, end);
    }
}

/// "14:05" in the computer's time zone (the browser knows it; the wasm clock does not).
pub fn local_clock(at: OffsetDateTime) -> String {
    let offset_minutes = -js_sys::Date::new_0().get_timezone_offset() as i64;
    let local = at + time::Duration::minutes(offset_minutes);
    format!("{:02}:{:02}", local.hour(), local.minute())
}
