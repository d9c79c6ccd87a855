//! Hooks shared by the screens: the app context and live-update subscriptions.

use std::rc::Rc;

use rf_app_api::CommandError;
use rf_app_api::events::{Changed, DataChanged};
use yew::prelude::*;

use crate::bridge;
use crate::state::app::{AppAction, Route, Tone};

/// What every screen may ask of the app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppContext {
    pub dispatch: Callback<AppAction>,
}

impl AppContext {
    pub fn navigate(&self, route: Route) {
        self.dispatch.emit(AppAction::Navigate(route));
    }

    pub fn failed(&self, error: CommandError) {
        self.dispatch.emit(AppAction::Failed(error));
    }

    pub fn toast(&self, text: impl Into<String>, tone: Tone) {
        self.dispatch.emit(AppAction::Toast(text.into(), tone));
    }
}

#[hook]
pub fn use_app() -> AppContext {
    use_context::<AppContext>().unwrap_or_else(|| AppContext {
        dispatch: Callback::noop(),
    })
}

#[derive(Debug, Default, PartialEq)]
struct Counter(u64);

impl Reducible for Counter {
    type Action = ();

    fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
        Rc::new(Counter(self.0 + 1))
    }
}

/// A number that grows each time the replica's data changes in a way `interest` cares about.
/// A screen puts it in its fetch effect's dependencies: it subscribes (here, first, as hooks
/// run in order) before it fetches, and fetches again on every change.
#[hook]
pub fn use_data_changed(interest: fn(Changed) -> bool) -> u64 {
    let counter = use_reducer(Counter::default);
    {
        let dispatcher = counter.dispatcher();
        use_effect_with((), move |_| {
            let subscription = bridge::listen::<DataChanged>(move |changed| {
                if interest(changed) {
                    dispatcher.dispatch(());
                }
            });
            move || drop(subscription)
        });
    }
    counter.0
}
