//! Settings: the sync login, how the app looks, the watched flows folder, and where this
//! device keeps its data.

use std::collections::BTreeMap;
use std::rc::Rc;

use rf_app_api::commands::{
    LoadSettings, LogIn, LogOut, SetFlowsDir, SetShortcut, SetStartAtLogin, SetTheme,
};
use rf_app_api::{CommandError, Settings, Theme};
use yew::prelude::*;

use crate::bridge;
use crate::components::common::Loading;
use crate::hooks::use_app;
use crate::state::app::Tone;
use crate::state::settings::LoginForm;
use crate::web;

#[function_component]
pub fn SettingsPage() -> Html {
    let app = use_app();
    let settings = use_state(|| None::<Result<Settings, CommandError>>);
    let form = use_state(LoginForm::default);
    let problems = use_state(BTreeMap::<&'static str, String>::new);
    let failure = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let folder = use_state(String::new);
    let folder_failure = use_state(|| None::<String>);
    let shortcut = use_state(String::new);
    let shortcut_failure = use_state(|| None::<String>);
    {
        let (settings, form, folder, shortcut) = (
            settings.clone(),
            form.clone(),
            folder.clone(),
            shortcut.clone(),
        );
        use_effect_with((), move |_| {
            web::spawn(async move {
                let loaded = bridge::call::<LoadSettings>(&()).await;
                if let Ok(loaded) = &loaded {
                    let account = loaded.account.as_ref();
                    form.set(LoginForm::for_account(
                        account.map(|account| account.server_url.as_str()),
                        account.map(|account| account.email.as_str()),
                    ));
                    folder.set(loaded.flows_dir.clone().unwrap_or_default());
                    shortcut.set(loaded.shortcut.clone());
                }
                settings.set(Some(loaded));
            });
        });
    }
    let current = match &*settings {
        None => return html! { <section id="settings" class="page narrow"><Loading /></section> },
        Some(Err(error)) => {
            return html! {
                <section id="settings" class="page narrow">
                    <h1>{ "Settings" }</h1>
                    <div class="callout error" role="alert">{ &error.message }</div>
                </section>
            };
        }
        Some(Ok(current)) => current.clone(),
    };

    let sign_in = {
        let (app, settings, form, problems, failure, busy) = (
            app.clone(),
            settings.clone(),
            form.clone(),
            problems.clone(),
            failure.clone(),
            busy.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            if *busy {
                return;
            }
            match form.request() {
                Err(found) => {
                    if let Some(first) = ["server_url", "email", "password"]
                        .into_iter()
                        .find(|field| found.contains_key(field))
                    {
                        web::focus(&format!("login-{}", first.replace('_', "-")));
                    }
                    problems.set(found);
                }
                Ok(request) => {
                    problems.set(BTreeMap::new());
                    failure.set(None);
                    busy.set(true);
                    let (app, settings, form, failure, busy) = (
                        app.clone(),
                        settings.clone(),
                        form.clone(),
                        failure.clone(),
                        busy.clone(),
                    );
                    web::spawn(async move {
                        let answer = bridge::call::<LogIn>(&request).await;
                        busy.set(false);
                        match answer {
                            Ok(now) => {
                                // The password is not kept on the page once it has been used.
                                form.set(LoginForm {
                                    password: String::new(),
                                    ..(*form).clone()
                                });
                                app.toast("Signed in: syncing now", Tone::Success);
                                settings.set(Some(Ok(now)));
                            }
                            Err(error) => failure.set(Some(error.message)),
                        }
                    });
                }
            }
        })
    };
    let sign_out = {
        let (app, settings) = (app.clone(), settings.clone());
        Callback::from(move |_| {
            let (app, settings) = (app.clone(), settings.clone());
            web::spawn(async move {
                match bridge::call::<LogOut>(&()).await {
                    Ok(now) => {
                        app.toast(
                            "Signed out: your work stays here and syncs after you sign in again",
                            Tone::Info,
                        );
                        settings.set(Some(Ok(now)));
                    }
                    Err(error) => app.failed(error),
                }
            });
        })
    };
    let choose_theme = |theme: Theme| {
        let (app, settings) = (app.clone(), settings.clone());
        Callback::from(move |_| {
            web::set_theme(theme);
            let (app, settings) = (app.clone(), settings.clone());
            web::spawn(async move {
                match bridge::call::<SetTheme>(&theme).await {
                    Ok(now) => settings.set(Some(Ok(now))),
                    Err(error) => app.failed(error),
                }
            });
        })
    };
    // Watches the folder given (or none), and says how that went.
    let set_folder: Rc<dyn Fn(Option<String>)> = {
        let (app, settings, folder, folder_failure) = (
            app.clone(),
            settings.clone(),
            folder.clone(),
            folder_failure.clone(),
        );
        Rc::new(move |dir: Option<String>| {
            let (app, settings, folder, folder_failure) = (
                app.clone(),
                settings.clone(),
                folder.clone(),
                folder_failure.clone(),
            );
            web::spawn(async move {
                match bridge::call::<SetFlowsDir>(&dir).await {
                    Ok(now) => {
                        folder_failure.set(None);
                        folder.set(now.flows_dir.clone().unwrap_or_default());
                        app.toast(
                            match &now.flows_dir {
                                Some(dir) => format!("Watching {dir} for flow files"),
                                None => "The flows folder is no longer watched".to_owned(),
                            },
                            Tone::Success,
                        );
                        settings.set(Some(Ok(now)));
                    }
                    Err(error) => folder_failure.set(Some(error.message)),
                }
            });
        })
    };
    let save_folder = {
        let (set_folder, folder) = (set_folder.clone(), folder.clone());
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let text = folder.trim().to_owned();
            set_folder((!text.is_empty()).then_some(text));
        })
    };
    let stop_folder = {
        let set_folder = set_folder.clone();
        Callback::from(move |_| set_folder(None))
    };
    let toggle_start_at_login = {
        let (app, settings) = (app.clone(), settings.clone());
        let on = current.start_at_login != Some(true);
        Callback::from(move |_| {
            let (app, settings) = (app.clone(), settings.clone());
            web::spawn(async move {
                match bridge::call::<SetStartAtLogin>(&on).await {
                    Ok(now) => settings.set(Some(Ok(now))),
                    Err(error) => app.toast(error.message, Tone::Error),
                }
            });
        })
    };
    let save_shortcut = {
        let (app, settings, shortcut, shortcut_failure) = (
            app.clone(),
            settings.clone(),
            shortcut.clone(),
            shortcut_failure.clone(),
        );
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            let (app, settings, shortcut_failure) =
                (app.clone(), settings.clone(), shortcut_failure.clone());
            let text = shortcut.trim().to_owned();
            web::spawn(async move {
                match bridge::call::<SetShortcut>(&text).await {
                    Ok(now) => {
                        shortcut_failure.set(None);
                        if now.shortcut_problem.is_none() {
                            app.toast(
                                if now.shortcut.is_empty() {
                                    "No global shortcut".to_owned()
                                } else {
                                    format!("{} opens the quick launcher", now.shortcut)
                                },
                                Tone::Success,
                            );
                        }
                        settings.set(Some(Ok(now)));
                    }
                    Err(error) => shortcut_failure.set(Some(error.message)),
                }
            });
        })
    };
    let edit = |apply: fn(&mut LoginForm, String)| {
        let form = form.clone();
        Callback::from(move |event: InputEvent| {
            let mut next = (*form).clone();
            apply(&mut next, web::target_value(event.target()));
            form.set(next);
        })
    };
    let field_class =
        |name: &str| classes!("field", problems.contains_key(name).then_some("invalid"));
    let problem = |name: &str| {
        problems
            .get(name)
            .map(|text| html! { <span class="field-error" role="alert">{ text }</span> })
    };

    html! {
        <section id="settings" class="page narrow">
            <header class="page-header">
                <h1>{ "Settings" }</h1>
                <p class="page-lede">{ "Kept on this device; nothing here is synced to your team." }</p>
            </header>

            <section class="card settings-card" id="settings-sync" aria-labelledby="settings-sync-title">
                <h2 id="settings-sync-title">{ "Sync server" }</h2>
                if let Some(problem) = &current.login_problem {
                    <div class="callout warning" role="alert">{ problem }</div>
                }
                if current.logged_in {
                    if let Some(account) = &current.account {
                        <p class="settings-account" id="signed-in">
                            { "Signed in as " }<strong>{ &account.email }</strong>
                            { " to " }<span class="mono">{ &account.server_url }</span>
                        </p>
                    }
                    <p class="hint-text">{ format!("The login is kept in {}.", current.token_store) }</p>
                    <div class="form-actions">
                        <button id="log-out" class="button secondary" type="button" onclick={sign_out}>{ "Sign out" }</button>
                    </div>
                } else {
                    <p class="hint-text">
                        { "Sign in to share flows and sessions with your team. Everything works offline meanwhile; what you do now syncs after you sign in." }
                    </p>
                    <form class="settings-form" onsubmit={sign_in} novalidate={true}>
                        <label class={field_class("server_url")}>
                            <span class="field-label">{ "Server address" }</span>
                            <input id="login-server-url" type="url" autocomplete="url" spellcheck="false"
                                placeholder="https://sync.example.com" value={form.server_url.clone()}
                                oninput={edit(|form, value| form.server_url = value)} />
                            { for problem("server_url") }
                        </label>
                        <label class={field_class("email")}>
                            <span class="field-label">{ "E-mail" }</span>
                            <input id="login-email" type="email" autocomplete="username" spellcheck="false"
                                value={form.email.clone()}
                                oninput={edit(|form, value| form.email = value)} />
                            { for problem("email") }
                        </label>
                        <label class={field_class("password")}>
                            <span class="field-label">{ "Password" }</span>
                            <input id="login-password" type="password" autocomplete="current-password"
                                value={form.password.clone()}
                                oninput={edit(|form, value| form.password = value)} />
                            { for problem("password") }
                        </label>
                        if let Some(failure) = &*failure {
                            <div class="callout error" role="alert" id="login-failure">{ failure }</div>
                        }
                        <div class="form-actions">
                            <button id="log-in" class="button primary" type="submit" disabled={*busy}>
                                { if *busy { "Signing in…" } else { "Sign in" } }
                            </button>
                            <span class="hint-text">{ format!("The login will be kept in {}.", current.token_store) }</span>
                        </div>
                    </form>
                }
            </section>

            <section class="card settings-card" id="settings-theme" aria-labelledby="settings-theme-title">
                <h2 id="settings-theme-title">{ "Appearance" }</h2>
                <div class="tabs" role="radiogroup" aria-label="Theme">
                    { for Theme::ALL.into_iter().map(|theme| {
                        let chosen = current.theme == theme;
                        let label = match theme {
                            Theme::System => "As the system",
                            Theme::Light => "Light",
                            Theme::Dark => "Dark",
                        };
                        html! {
                            <button type="button" role="radio" id={format!("theme-{}", theme.as_str())}
                                class={classes!("tab", chosen.then_some("current"))}
                                aria-checked={if chosen { "true" } else { "false" }}
                                onclick={choose_theme(theme)}>{ label }</button>
                        }
                    }) }
                </div>
            </section>

            <section class="card settings-card" id="settings-launch" aria-labelledby="settings-launch-title">
                <h2 id="settings-launch-title">{ "Launching" }</h2>
                <div class="settings-row">
                    <div>
                        <p class="settings-row-title">{ "Start at login" }</p>
                        <p class="hint-text">{ "Waits in the tray, ready for the next ticket." }</p>
                    </div>
                    if let Some(on) = current.start_at_login {
                        <button id="start-at-login" type="button" role="switch"
                            class={classes!("switch", on.then_some("on"))}
                            aria-checked={if on { "true" } else { "false" }}
                            onclick={toggle_start_at_login}>
                            <span class="switch-knob" />
                        </button>
                    } else {
                        <span class="hint-text">{ "This desktop cannot start apps at login." }</span>
                    }
                </div>
                <form class="settings-form inline" onsubmit={save_shortcut} novalidate={true}>
                    <label class={classes!("field", shortcut_failure.is_some().then_some("invalid"))}>
                        <span class="field-label">{ "Quick launcher shortcut, anywhere on the desktop" }</span>
                        <input id="shortcut" type="text" spellcheck="false" autocomplete="off"
                            placeholder={rf_app_api::DEFAULT_SHORTCUT} value={(*shortcut).clone()}
                            oninput={let shortcut = shortcut.clone(); Callback::from(move |event: InputEvent| shortcut.set(web::target_value(event.target())))} />
                        if let Some(failure) = &*shortcut_failure {
                            <span class="field-error" role="alert">{ failure }</span>
                        }
                    </label>
                    if let Some(problem) = &current.shortcut_problem {
                        <div class="callout warning" role="note" id="shortcut-problem">{ problem }</div>
                    }
                    <div class="form-actions">
                        <button id="shortcut-save" class="button primary" type="submit">{ "Use this shortcut" }</button>
                    </div>
                    <p class="hint-text settings-note">
                        { "Empty for none. Where shortcuts cannot fire (Wayland), bind " }<code>{ "resolutionflow --quick-launch" }</code>{ " to a key in your desktop's keyboard settings." }
                    </p>
                </form>
            </section>

            <section class="card settings-card" id="settings-folder" aria-labelledby="settings-folder-title">
                <h2 id="settings-folder-title">{ "Watched flows folder" }</h2>
                <p class="hint-text">
                    { "Flow files (*.flow.json) saved in this folder are checked and imported within two seconds; files with problems are listed in the Library and nothing of them is imported." }
                </p>
                if let Some(dir) = &current.flows_dir_override {
                    <div class="callout" role="note">
                        { "RF_FLOWS_DIR is set, so " }<span class="mono">{ dir }</span>{ " is watched whatever is chosen here." }
                    </div>
                }
                <form class="settings-form inline" onsubmit={save_folder} novalidate={true}>
                    <label class={classes!("field", folder_failure.is_some().then_some("invalid"))}>
                        <span class="field-label">{ "Folder" }</span>
                        <input id="flows-dir" type="text" spellcheck="false" autocomplete="off"
                            placeholder="/home/you/flows" value={(*folder).clone()}
                            oninput={let folder = folder.clone(); Callback::from(move |event: InputEvent| folder.set(web::target_value(event.target())))} />
                        if let Some(failure) = &*folder_failure {
                            <span class="field-error" role="alert">{ failure }</span>
                        }
                    </label>
                    <div class="form-actions">
                        <button id="flows-dir-save" class="button primary" type="submit">{ "Watch this folder" }</button>
                        if current.flows_dir.is_some() {
                            <button id="flows-dir-stop" class="button secondary" type="button"
                                onclick={stop_folder}>{ "Stop watching" }</button>
                        }
                    </div>
                </form>
            </section>

            <section class="card settings-card" id="settings-device" aria-labelledby="settings-device-title">
                <h2 id="settings-device-title">{ "This device" }</h2>
                <dl class="settings-facts">
                    <dt>{ "Data folder" }</dt><dd class="mono">{ &current.data_dir }</dd>
                </dl>
            </section>
        </section>
    }
}
