//! The one place that knows Tauri: typed command calls and typed event subscriptions over
//! `window.__TAURI__` (the shell loads with `app.withGlobalTauri: true`).
//!
//! Everything else in the front end speaks `rf_app_api` types. The JS bindings compile on the
//! host too (so `cargo test` builds the crate) but are only ever called in the browser.

use std::cell::RefCell;
use std::rc::Rc;

use rf_app_api::events::Event;
use rf_app_api::{Command, CommandError, ErrorKind, Invocation};
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], js_name = invoke, catch)]
    fn tauri_invoke(command: &str, args: JsValue) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], js_name = listen, catch)]
    fn tauri_listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// What a call answers when the page is not running inside the app (opened in a browser).
pub const NOT_IN_APP: &str =
    "This page runs inside the ResolutionFlow app: open ResolutionFlow instead of a browser.";

/// Whether the Tauri globals are present. Only meaningful in the browser.
pub fn in_app() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("__TAURI__"))
        .map(|value| !value.is_undefined() && !value.is_null())
        .unwrap_or(false)
}

/// Invokes command `C` with `args` and reads its answer.
pub async fn call<C: Command>(args: &C::Args) -> Result<C::Output, CommandError> {
    if !in_app() {
        return Err(CommandError::new(ErrorKind::Storage, NOT_IN_APP));
    }
    let invocation = Invocation { args };
    let value = invocation
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|error| {
            CommandError::new(
                ErrorKind::Invalid,
                format!("could not send {}: {error}", C::NAME),
            )
        })?;
    let promise = tauri_invoke(C::NAME, value).map_err(|error| rejection(&error))?;
    let answer = JsFuture::from(promise)
        .await
        .map_err(|error| rejection(&error))?;
    serde_wasm_bindgen::from_value(answer).map_err(|error| {
        CommandError::new(
            ErrorKind::Storage,
            format!(
                "the app answered {} in a shape this window does not read ({error}); restart ResolutionFlow",
                C::NAME
            ),
        )
    })
}

/// Turns a rejected invocation into a [`CommandError`].
fn rejection(error: &JsValue) -> CommandError {
    if let Some(text) = error.as_string() {
        return parse_rejection(&text);
    }
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        return CommandError::new(ErrorKind::Storage, String::from(error.message()));
    }
    match js_sys::JSON::stringify(error)
        .ok()
        .and_then(|text| text.as_string())
    {
        Some(json) => parse_rejection(&json),
        None => CommandError::new(ErrorKind::Storage, "the app failed without saying why"),
    }
}

/// Reads a rejection's text: a JSON `CommandError`, or anything else wrapped as a storage error.
pub fn parse_rejection(text: &str) -> CommandError {
    serde_json::from_str::<CommandError>(text)
        .unwrap_or_else(|_| CommandError::new(ErrorKind::Storage, text.trim().trim_matches('"')))
}

/// A live subscription to one event; unlistens when dropped.
#[derive(Debug)]
pub struct Subscription {
    shared: Rc<RefCell<SubscriptionState>>,
}

#[derive(Default)]
struct SubscriptionState {
    /// The unlisten function, once Tauri has registered the handler.
    unlisten: Option<js_sys::Function>,
    /// The handler; kept until Tauri no longer holds it.
    handler: Option<Closure<dyn FnMut(JsValue)>>,
    /// Cleared on drop: an event already on its way is then ignored, never delivered to a
    /// screen that is gone.
    active: Rc<std::cell::Cell<bool>>,
    dropped: bool,
}

/// How long a handler outlives its subscription, so an event Tauri dispatched just before the
/// unlisten landed finds a (silent) handler instead of a freed closure.
const HANDLER_GRACE_MS: u32 = 5_000;

impl SubscriptionState {
    fn release(&mut self) {
        if let Some(unlisten) = self.unlisten.take() {
            let _ = unlisten.call0(&JsValue::NULL);
        }
        if let Some(handler) = self.handler.take() {
            gloo_timers::callback::Timeout::new(HANDLER_GRACE_MS, move || drop(handler)).forget();
        }
    }
}

impl std::fmt::Debug for SubscriptionState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SubscriptionState")
            .field("registered", &self.unlisten.is_some())
            .field("dropped", &self.dropped)
            .finish()
    }
}

/// Subscribes to event `E`. The registration request is sent at once, so a fetch started
/// right after this call cannot miss a change announced after it.
pub fn listen<E: Event>(callback: impl Fn(E::Payload) + 'static) -> Subscription {
    let shared = Rc::new(RefCell::new(SubscriptionState::default()));
    if !in_app() {
        return Subscription { shared };
    }
    let active = Rc::new(std::cell::Cell::new(true));
    shared.borrow_mut().active = active.clone();
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        if !active.get() {
            return;
        }
        let payload =
            js_sys::Reflect::get(&event, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        if let Ok(payload) = serde_wasm_bindgen::from_value::<E::Payload>(payload) {
            callback(payload);
        }
    });
    let promise = tauri_listen(E::NAME, &handler);
    shared.borrow_mut().handler = Some(handler);
    if let Ok(promise) = promise {
        let pending = shared.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let Ok(unlisten) = JsFuture::from(promise).await else {
                return;
            };
            let Ok(unlisten) = unlisten.dyn_into::<js_sys::Function>() else {
                return;
            };
            let mut state = pending.borrow_mut();
            state.unlisten = Some(unlisten);
            if state.dropped {
                state.release();
            }
        });
    }
    Subscription { shared }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.shared.borrow_mut();
        state.dropped = true;
        state.active.set(false);
        if state.unlisten.is_some() {
            state.release();
        }
        // Otherwise the registration is still in flight: the task above unlistens when it
        // lands, and keeps the handler alive until then.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_read_as_command_errors_or_wrap_their_text() {
        let error = parse_rejection(r#"{"kind":"newer_schema","message":"update the app"}"#);
        assert_eq!(error.kind, ErrorKind::NewerSchema);
        assert_eq!(error.message, "update the app");
        let error = parse_rejection("\"disk full\"");
        assert_eq!(error.kind, ErrorKind::Storage);
        assert_eq!(error.message, "disk full");
        let error = parse_rejection("command act not found");
        assert_eq!(error.kind, ErrorKind::Storage);
        assert_eq!(error.message, "command act not found");
    }
}
