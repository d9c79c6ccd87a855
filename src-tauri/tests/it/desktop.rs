//! What an engineer sees in the app, against a real sync server.

use std::time::Duration;

use rf_tests::device::{Device, FLOW_ID, flow};
use rf_tests::proxy::{Fault, FaultyProxy};
use rf_tests::{Backend, PASSWORD, TestServer, printer_flow};

use crate::harness::{App, eventually};

/// Samples from the repository, as `./dev run` seeds them.
fn sample(name: &str) -> rf_core::Flow {
    let path = format!(
        "{}/../samples/flows/{name}.flow.json",
        env!("CARGO_MANIFEST_DIR")
    );
    rf_core::Flow::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn state_of_status_bar(app: &App) -> String {
    app.attr("#status-bar", "data-state").await
}

async fn wait_for_status(app: &App, wanted: &str) {
    eventually(|| async {
        let state = state_of_status_bar(app).await;
        match state == wanted {
            true => Ok(()),
            false => Err(format!(
                "the status bar stayed {state:?}, never {wanted:?}: {}",
                app.text("#status-bar").await
            )),
        }
    })
    .await
}

/// Offline is a calm state; when the server comes back the app syncs by itself, and a flow a
/// teammate publishes appears in the open library without a click.
#[tokio::test(flavor = "multi_thread")]
async fn offline_then_synced_and_a_teammates_flow_appears_in_the_library() {
    let mut server = TestServer::start(Backend::Sqlite).await;
    let laptop = Device::new();
    laptop.import(sample("dns-resolution-failure")).await;
    laptop.login(&server, "ada@contoso.example").await;
    server.pause().await;

    let app = App::on(&laptop, &[]).await;
    assert!(app.client.title().await.unwrap().contains("ResolutionFlow"));
    wait_for_status(&app, "offline").await;
    let offline = app.text("#status-bar").await;
    assert!(offline.contains("Offline"), "{offline}");
    assert!(
        offline.contains("pending"),
        "the imported flow waits to go up: {offline}"
    );
    app.screenshot("home-offline").await;

    server.resume().await;
    wait_for_status(&app, "online").await;
    app.wait_for_text("#status-bar", "Synced").await;

    app.click("button.rail-item[aria-label='Library']").await;
    app.wait_for("#library [data-flow-title='DNS name resolution failure']")
        .await;
    let teammate = Device::new();
    teammate.login(&server, "bob@contoso.example").await;
    teammate.import(printer_flow()).await;
    teammate.sync().await.unwrap();
    app.wait_for("#library [data-flow-title='Printer offline']")
        .await;
    app.screenshot("library-synced").await;
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// WebDriver's key codes.
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

async fn step_title(app: &App) -> String {
    app.text("#step-title").await
}

/// Waits until the runner shows a step other than `previous`.
async fn next_step(app: &App, previous: &str) -> String {
    eventually(|| async {
        let title = step_title(app).await;
        match title != previous {
            true => Ok(title),
            false => Err(format!("the runner stayed at {previous:?}")),
        }
    })
    .await
}

/// The engineer's whole path, offline: a link from the PSA opens the start screen prefilled,
/// Enter starts, three answers by number keys, a note typed (saved as typed), finish, and the
/// redacted ticket note previewed and copied.
#[tokio::test(flavor = "multi_thread")]
async fn a_deep_link_to_a_finished_redacted_ticket_note_by_keyboard() {
    let laptop = Device::new();
    laptop.import(sample("dns-resolution-failure")).await;
    let link = "resolutionflow://run/DNS%20name%20resolution%20failure?ticket=T-1042&client=Acme+Dental\
                &var.lookup_name=intranet.acme.local&var.dns_server=10.0.0.10";
    let app = App::on(&laptop, &[link]).await;
    app.wait_for("#start").await;
    let ticket = app.wait_for("#ticket").await;
    assert_eq!(
        ticket.prop("value").await.unwrap().as_deref(),
        Some("T-1042")
    );
    app.screenshot("start-prefilled").await;
    ticket.click().await.unwrap();
    app.press(ENTER).await;

    app.wait_for("#runner").await;
    let mut title = step_title(&app).await;
    app.screenshot("runner-first-step").await;
    let mut seen = vec![title.clone()];
    for key in ["2", "1", "1"] {
        app.press(key).await;
        title = next_step(&app, &title).await;
        seen.push(title.clone());
    }
    assert_eq!(seen.len(), 4, "{seen:?}");

    app.press("n").await;
    app.press("Password is hunter2 on 10.0.0.10").await;
    app.wait_for_text("#note-state", "Saved").await;
    app.screenshot("runner-note-saved").await;
    app.press(ESCAPE).await;
    app.press("f").await;
    app.wait_for("#finish-dialog").await;
    app.click("label[for='outcome-resolved']").await;
    app.click("#summary").await;
    app.press("Flushed the resolver cache on the accounting PC")
        .await;
    app.screenshot("runner-finish").await;
    app.click("#finish-confirm").await;

    app.wait_for("#session-detail").await;
    let redact = app.wait_for("#redact").await;
    assert_eq!(
        redact.prop("checked").await.unwrap().as_deref(),
        Some("true")
    );
    let preview = app.text("#export-preview").await;
    assert!(preview.contains("T-1042"), "{preview}");
    assert!(preview.contains("Flushed the resolver cache"), "{preview}");
    assert!(
        !preview.contains("10.0.0.10"),
        "the address is masked: {preview}"
    );
    app.screenshot("session-detail-redacted").await;
    app.click("#copy-for-ticket").await;
    app.wait_for_text("#toasts", "Copied").await;
    app.client.clone().close().await.unwrap();

    // What the page showed is what the replica holds: one finished session with the note.
    let sessions = laptop.with(|replica| replica.sessions().unwrap()).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].status, "finished");
    assert_eq!(sessions[0].outcome.as_deref(), Some("resolved"));
}

/// Types into a field as a person does: a click to focus it, then the keys.
async fn type_into(app: &App, css: &str, text: &str) {
    app.click(css).await;
    app.press(text).await;
}

/// A replica that never synced signs in from Settings (a wrong password first), its flow goes
/// up, the theme follows the choice, and signing out leaves the work here and says so.
#[tokio::test(flavor = "multi_thread")]
async fn signing_in_and_out_from_settings() {
    let server = TestServer::start(Backend::Sqlite).await;
    let laptop = Device::new();
    laptop.import(sample("dns-resolution-failure")).await;
    let app = App::on(&laptop, &[]).await;
    wait_for_status(&app, "local").await;
    app.click("button.rail-item[aria-label='Settings']").await;
    app.wait_for("#settings-sync").await;

    // Nothing sent while the form is incomplete; each missing field says so.
    app.click("#log-in").await;
    let problems = app.text("#settings-sync").await;
    assert!(problems.contains("sync server's address"), "{problems}");
    type_into(&app, "#login-server-url", &server.base).await;
    type_into(&app, "#login-email", "ada@contoso.example").await;
    type_into(&app, "#login-password", "not the password").await;
    app.press(ENTER).await;
    let refused = app.text("#login-failure").await;
    assert!(!refused.is_empty(), "a wrong password is answered");
    app.screenshot("settings-login-refused").await;

    let password = app.wait_for("#login-password").await;
    password.clear().await.unwrap();
    type_into(&app, "#login-password", PASSWORD).await;
    app.press(ENTER).await;
    let signed_in = app.text("#signed-in").await;
    assert!(signed_in.contains("ada@contoso.example"), "{signed_in}");
    wait_for_status(&app, "online").await;
    app.wait_for_text("#status-bar", "Synced").await;
    // The flow imported before signing in reached the team.
    let teammate = Device::new();
    teammate.login(&server, "bob@contoso.example").await;
    teammate.sync().await.unwrap();
    let flows = teammate.with(|replica| replica.flows().unwrap()).await;
    assert_eq!(flows.len(), 1, "{flows:?}");

    // The theme: dark when chosen, and still dark after the page reloads.
    app.click("#theme-dark").await;
    let theme = |app: &App| {
        let client = app.client.clone();
        async move {
            client
                .execute(
                    "return document.documentElement.dataset.theme || 'system';",
                    vec![],
                )
                .await
                .unwrap()
        }
    };
    assert_eq!(theme(&app).await, "dark");
    // Past the colours' transition, so the picture shows the theme, not the change.
    tokio::time::sleep(Duration::from_millis(400)).await;
    app.screenshot("settings-dark").await;
    app.client.refresh().await.unwrap();
    app.wait_for("#status-bar").await;
    eventually(|| async {
        match theme(&app).await == "dark" {
            true => Ok(()),
            false => Err("the theme was not kept".to_owned()),
        }
    })
    .await;

    app.click("button.rail-item[aria-label='Settings']").await;
    app.click("#log-out").await;
    wait_for_status(&app, "sign-in").await;
    let bar = app.text("#status-bar").await;
    assert!(bar.contains("Sign in needed"), "{bar}");
    app.wait_for("#login-password").await;
    app.screenshot("settings-signed-out").await;
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// A login kept in the OS keyring, on a desktop whose keyring cannot be used (here: the test's
/// private session bus has no Secret Service): the bar asks to sign in and says what to do in
/// the app's words, and the work waits on this device.
#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_keyring_asks_for_a_sign_in_in_plain_words() {
    let server = TestServer::start(Backend::Sqlite).await;
    let laptop = Device::new();
    laptop.login(&server, "ada@contoso.example").await;
    laptop.import(sample("dns-resolution-failure")).await;
    let app = App::start(
        &[
            ("RF_DATA_DIR", laptop.path().display().to_string()),
            ("RF_TOKEN_STORE", "keyring".into()),
        ],
        &[],
    )
    .await;
    wait_for_status(&app, "sign-in").await;
    let bar = app.text("#status-bar").await;
    assert!(
        bar.contains("Sign in needed") && bar.contains("1 pending"),
        "{bar}"
    );
    let tooltip = app.attr("#status-bar", "title").await;
    assert!(tooltip.contains("keyring"), "{tooltip}");
    assert!(tooltip.contains("sign in again in Settings"), "{tooltip}");
    assert!(!tooltip.contains("--token-store"), "{tooltip}");
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// Two devices of one author, each with its own edit of one flow's title: the laptop's has
/// reached the server, the desktop's will conflict with it at its next sync.
async fn about_to_conflict() -> (TestServer, Device, Device) {
    let server = TestServer::start(Backend::Sqlite).await;
    let (laptop, desktop) = (Device::new(), Device::new());
    laptop.login(&server, "ada@contoso.example").await;
    desktop.login(&server, "ada@contoso.example").await;
    laptop.import(flow()).await;
    laptop.sync().await.unwrap();
    desktop.sync().await.unwrap();
    let mut first = flow();
    first.title = "VPN will not connect (laptop)".into();
    laptop.import(first).await;
    laptop.sync().await.unwrap();
    let mut second = flow();
    second.title = "VPN will not connect (desktop)".into();
    desktop.import(second).await;
    (server, laptop, desktop)
}

/// Started at login (in the tray, no window), the app hears of a conflict from background
/// sync: with no window for a toast, it is a desktop notification.
#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_found_while_in_the_tray_is_a_desktop_notification() {
    let (server, _laptop, desktop) = about_to_conflict().await;
    let app = App::on(&desktop, &["--hidden"]).await;
    app.wait_for_notification("1 new conflict").await;
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// Two devices of one author changed one flow's title before syncing: the app (on the second)
/// hears of the conflict, shows both titles side by side, and keeping mine sends it to the
/// team.
#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_shown_side_by_side_and_mine_kept() {
    let (server, laptop, desktop) = about_to_conflict().await;
    let app = App::on(&desktop, &[]).await;
    // Background sync raises it: a notice says so (held until the page listens, since the first
    // round often ends before it does), and the status bar offers it.
    app.wait_for_text("#toasts", "1 new conflict").await;
    app.click("#status-conflicts").await;
    app.wait_for("#conflicts [data-conflict]").await;
    let shown = app.text("#conflicts").await;
    assert!(shown.contains("VPN will not connect (laptop)"), "{shown}");
    assert!(shown.contains("VPN will not connect (desktop)"), "{shown}");
    assert!(shown.contains("Title"), "{shown}");
    app.screenshot("conflicts").await;
    app.click(".keep-mine").await;
    app.wait_for_text("#conflicts", "No conflicts").await;
    // The choice reaches the team: the laptop ends with the desktop's title, and no conflict.
    eventually(|| async {
        laptop.sync().await.unwrap();
        let (title, open) = laptop
            .with(|replica| {
                let id = uuid::Uuid::parse_str(FLOW_ID).unwrap();
                (
                    replica.flow(id).unwrap().document.title,
                    replica.conflicts(false).unwrap().len(),
                )
            })
            .await;
        match title == "VPN will not connect (desktop)" && open == 0 {
            true => Ok(()),
            false => Err(format!("the laptop has {title:?}, {open} open")),
        }
    })
    .await;
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

async fn sync_now(app: &App) {
    app.click("#status-bar .status-sync[aria-label='Sync now']")
        .await;
}

/// A server that will not sync with this app (426: the app is too old) stops sync, and the bar
/// says to update; a server in trouble (503 on every request) is the calm offline state, its
/// tooltip saying why; when the server is well again, what waited arrives, nothing lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusing_or_failing_server_is_said_in_plain_words_and_nothing_is_lost() {
    let server = TestServer::start(Backend::Sqlite).await;
    let proxy = FaultyProxy::start(&server.base, 1, 0).await;
    let laptop = Device::new();
    laptop.login_at(&proxy.base, "ada@contoso.example").await;
    laptop.import(sample("dns-resolution-failure")).await;
    proxy.answer_every_request(Some(Fault::UpgradeRequired));

    let app = App::on(&laptop, &[]).await;
    wait_for_status(&app, "stopped").await;
    let bar = app.text("#status-bar").await;
    assert!(bar.contains("Sync stopped"), "{bar}");
    assert!(bar.contains("1 pending"), "{bar}");
    app.screenshot("status-sync-stopped").await;
    // Its whole text (WebDriver's visible text leaves out a line cut with an ellipsis).
    let problem = app
        .wait_for("#status-problem")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(problem.contains("update the app"), "{problem:?} in {bar:?}");
    assert!(
        !problem.contains("rf "),
        "no CLI words in the app: {problem}"
    );

    proxy.answer_every_request(Some(Fault::Unavailable));
    sync_now(&app).await;
    wait_for_status(&app, "offline").await;
    let tooltip = app.attr("#status-bar", "title").await;
    assert!(tooltip.contains("having trouble"), "{tooltip}");
    assert!(tooltip.contains("saved here"), "{tooltip}");

    proxy.answer_every_request(None);
    sync_now(&app).await;
    wait_for_status(&app, "online").await;
    app.wait_for_text("#status-bar", "Synced").await;
    let bar = app.text("#status-bar").await;
    assert!(!bar.contains("pending"), "{bar}");
    assert_eq!(server.count("SELECT COUNT(*) FROM flows").await, 1);
    app.client.clone().close().await.unwrap();
    proxy.stop();
    server.stop().await;
}

/// The global shortcut, pressed anywhere on the desktop (here: keys sent to the X server, not
/// to the page), opens the quick launcher; a flow typed there starts with Enter.
#[tokio::test(flavor = "multi_thread")]
async fn the_global_shortcut_opens_the_quick_launcher() {
    let laptop = Device::new();
    laptop.import(sample("dns-resolution-failure")).await;
    let app = App::on(&laptop, &[]).await;
    app.wait_for("#home").await;
    app.press_on_display(&["ctrl+alt+space"]).await;
    app.wait_for("#quick-launcher").await;
    app.press("dns name").await;
    app.wait_for_text("#quick-results", "DNS name resolution failure")
        .await;
    app.screenshot("quick-launcher").await;
    app.press(ENTER).await;
    app.wait_for("#start").await;
    app.client.clone().close().await.unwrap();
}

/// The tray: its menu shows where sync stands and the pinned flows; a pinned flow chosen there
/// opens the start screen. (Linux trays are menu-only; the menu is driven by keyboard, as the
/// tray host docks the icon wherever it likes.)
#[tokio::test(flavor = "multi_thread")]
async fn the_tray_menu_quick_launches_a_pinned_flow() {
    let laptop = Device::new();
    laptop.import(sample("dns-resolution-failure")).await;
    laptop
        .with(|replica| {
            let id = replica.flows().unwrap()[0].id;
            assert!(replica.pin_flow(id).unwrap());
        })
        .await;
    let app = App::on(&laptop, &[]).await;
    app.wait_for("#home").await;
    app.click_tray_icon().await;
    // The status line is disabled: the first item the keyboard reaches is "Quick launch".
    app.press_on_display(&["Down"]).await;
    app.press_on_display(&["Right"]).await;
    app.screenshot("tray-menu").await;
    app.press_on_display(&["Return"]).await;
    app.wait_for("#start").await;
    app.wait_for_text("#start", "DNS name resolution failure")
        .await;
    app.client.clone().close().await.unwrap();
}

async fn open_from_rail(app: &App, screen: &str) {
    app.click(&format!("button.rail-item[aria-label='{screen}']"))
        .await;
}

/// The screens the other tests pass by: a maintenance checklist ticked out of order, the
/// sessions list, and a flow's detail from the library.
#[tokio::test(flavor = "multi_thread")]
async fn a_checklist_ticked_in_any_order_then_the_sessions_and_a_flows_detail() {
    let laptop = Device::new();
    laptop.import(sample("monthly-server-patching")).await;
    laptop.import(sample("dns-resolution-failure")).await;
    let link = "resolutionflow://run/Monthly%20Windows%20Server%20patching?ticket=T-2001\
                &client=Contoso&var.server_name=FS01&var.patch_window=Sat%2022%3A00";
    let app = App::on(&laptop, &[link]).await;
    app.wait_for("#start").await;
    app.click("#ticket").await;
    app.press(ENTER).await;
    app.wait_for("#runner .checklist").await;
    let progress = || app.attr("[aria-label='Checklist progress']", "aria-valuenow");
    assert_eq!(progress().await, "0");
    // An item further down the list, ticked before the one the runner is at.
    app.click("#runner li.check-item:not(.current) input[type=checkbox]:not([disabled])")
        .await;
    eventually(|| async {
        match progress().await == "1" {
            true => Ok(()),
            false => Err("the tick was not counted".to_owned()),
        }
    })
    .await;
    app.wait_for("#runner li.check-item.done").await;
    app.screenshot("runner-checklist").await;

    open_from_rail(&app, "Sessions").await;
    app.wait_for_text("#sessions", "T-2001").await;
    app.screenshot("sessions").await;

    open_from_rail(&app, "Library").await;
    app.click(".flow-row[data-flow-title='DNS name resolution failure'] .flow-row-main")
        .await;
    app.wait_for_text("#flow-detail", "DNS name resolution failure")
        .await;
    app.screenshot("flow-detail").await;
    app.client.clone().close().await.unwrap();
}

/// A finished session posted to its ConnectWise ticket from the session view: the ticket
/// number prefilled from the session, the note previewed redacted, the flags and a status
/// chosen; the background sync posts it through the server, once, and the view says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_posted_to_its_ticket_once_from_the_session_view() {
    let (server, site, admin) = connected_to_connectwise().await;
    let ada = server.token("ada@contoso.example").await;
    let ada_id = server.get("/api/v1/me", Some(&ada)).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = server
        .put(
            &format!("/api/v1/psa/members/{ada_id}"),
            Some(&admin),
            serde_json::json!({"member_identifier": "alovelace"}),
        )
        .await;
    assert_eq!(status.as_u16(), 204);
    let laptop = Device::new();
    laptop.login(&server, "ada@contoso.example").await;
    laptop.import(flow()).await;
    let session = laptop
        .with(|replica| {
            use rf_core::session::{Choice, Command, StartRequest};
            let request = StartRequest {
                ticket: "#48213".into(),
                client: "Contoso".into(),
                engineer: "Ada Lovelace".into(),
                ..StartRequest::default()
            };
            let flow = uuid::Uuid::parse_str(FLOW_ID).unwrap();
            let id = replica.start_session(flow, request).unwrap().id;
            let answer = |choice: &str| Command::Answer {
                choice: Choice::parse(choice),
            };
            for command in [
                answer("no"),
                answer("done"),
                answer("yes"),
                Command::Note {
                    text: "VPN admin password is Hunter2!xQ on 10.0.0.10".into(),
                },
                answer("done"),
                Command::Finish {
                    outcome: rf_core::Outcome::Resolved,
                    summary: Some("Reinstalled the VPN client; it connects.".into()),
                    next_steps: None,
                },
            ] {
                replica.run_command(id, command).unwrap();
            }
            id
        })
        .await;

    let link = format!("resolutionflow://session/{session}");
    let app = App::on(&laptop, &[&link]).await;
    app.wait_for("#ticket-post").await;
    assert_eq!(app.attr("#post-ticket", "value").await, "48213");
    let preview = app
        .wait_for("#post-text")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(preview.contains("VPN admin password is"), "{preview}");
    assert!(!preview.contains("Hunter2!xQ"), "{preview}");
    app.click("#flag-resolution").await;
    app.click("#record-time").await;
    app.click("#post-status").await;
    app.press("Completed").await;
    app.screenshot("post-to-ticket-form").await;
    app.click("#post-to-ticket").await;
    app.wait_for_text("#ticket-posts", "Posted to #48213").await;
    app.wait_for_text("#ticket-posts", "Status set to Completed")
        .await;
    app.wait_for_text("#ticket-posts", "time entry").await;
    let entries = site.time_entries(48213);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].member, "alovelace");
    app.screenshot("post-to-ticket-posted").await;
    // A second click does not post a second note: it asks first.
    app.click("#post-to-ticket").await;
    app.wait_for_text(
        "#ticket-post .callout.error",
        "already posted to ticket #48213",
    )
    .await;
    app.wait_for_text("#post-to-ticket", "Post again").await;
    let notes = site.notes(48213);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].internal && notes[0].resolution && !notes[0].discussion);
    assert!(!notes[0].text.contains("Hunter2!xQ"));
    assert!(
        notes[0].text.starts_with(preview.trim_end()),
        "{}",
        notes[0].text
    );
    // Another round of sync posts nothing more.
    sync_now(&app).await;
    app.wait_for_text("#status-bar", "Synced").await;
    assert_eq!(site.notes(48213).len(), 1);
    site.assert_no_violations();
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// A new session prefilled from its ConnectWise ticket: the number typed (here from a PSA
/// link), "Fill from ConnectWise" asks the sync server, and the client and what the ticket is
/// about show before the session starts.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_session_is_prefilled_from_its_connectwise_ticket() {
    use rf_tests::vendors::{Method, Scripted};
    let (server, site, _) = connected_to_connectwise().await;
    site.script(
        Method::GET,
        "service/tickets/48213",
        Scripted::Answer {
            status: 200,
            headers: vec![("content-type", "application/vnd.connectwise.com+json; version=2025.8".into())],
            body: serde_json::json!({
                "id": 48213, "summary": "VPN drops every hour for the accounting team",
                "company": {"id": 19, "identifier": "AcmeDental", "name": "Acme Dental"},
                "contactName": "Grace Hopper", "board": {"id": 1, "name": "Service Desk"},
                "status": {"id": 4, "name": "New"}, "priority": {"id": 3, "name": "Priority 3 - Normal"},
                "closedFlag": false
            })
            .to_string(),
        },
    );
    let laptop = Device::new();
    laptop.login(&server, "ada@contoso.example").await;
    laptop.import(sample("dns-resolution-failure")).await;
    let link = "resolutionflow://run/DNS%20name%20resolution%20failure?ticket=48213";
    let app = App::on(&laptop, &[link]).await;
    app.wait_for("#start").await;
    app.click("#lookup-ticket").await;
    app.wait_for_text("#ticket-found", "VPN drops every hour")
        .await;
    assert_eq!(app.attr("#client", "value").await, "Acme Dental");
    let found = app.text("#ticket-found").await;
    assert!(
        found.contains("#48213") && found.contains("Service Desk") && found.contains("New"),
        "{found}"
    );
    app.screenshot("start-from-ticket").await;
    let lookup = site
        .seen()
        .into_iter()
        .find(|seen| seen.path == "service/tickets/48213")
        .unwrap();
    assert_eq!(lookup.headers["clientid"], rf_tests::vendors::CLIENT_ID);
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// FlowPilot at a troubleshooting step: asked from the runner, its answer streams in and the
/// step's answers come back ranked with a reason each, the note's password never reaching the
/// model; with the sync server gone, the panel says calmly that it cannot help and that the
/// team's statistics still guide.
#[tokio::test(flavor = "multi_thread")]
async fn flowpilot_ranks_the_steps_answers_and_is_calm_offline() {
    use rf_tests::vendors::{AnthropicStandIn, answer_stream, vendor_config};
    let anthropic = AnthropicStandIn::start().await;
    let mut config = vendor_config();
    config.ai.base_url = anthropic.base.clone();
    config.ai.api_key = Some(rf_sync_server_key());
    let mut server = TestServer::start_with(Backend::Sqlite, config).await;
    let laptop = Device::new();
    laptop.login(&server, "ada@contoso.example").await;
    laptop.import(flow()).await;
    let session = laptop
        .with(|replica| {
            use rf_core::session::{Command, StartRequest};
            let request = StartRequest {
                ticket: "48213".into(),
                client: "Contoso".into(),
                engineer: "Ada Lovelace".into(),
                ..StartRequest::default()
            };
            let flow = uuid::Uuid::parse_str(FLOW_ID).unwrap();
            let id = replica.start_session(flow, request).unwrap().id;
            replica
                .run_command(
                    id,
                    Command::Note {
                        text: "Wi-Fi shows connected; router admin password is Hunter2!xQ".into(),
                    },
                )
                .unwrap();
            id
        })
        .await;
    anthropic.script(answer_stream(
        "ANSWER: Yes — Wi-Fi shows connected, so the laptop likely reaches the internet\nANSWER: No — only if the router itself is down\nACTION: Open a public website to confirm — a quick check before the VPN",
        "claude-haiku-4-5",
    ));
    let link = format!("resolutionflow://session/{session}");
    let app = App::on(&laptop, &[&link]).await;
    app.wait_for("#pilot").await;
    app.click("#ask-pilot").await;
    app.wait_for_text("#pilot-suggestions", "Open a public website")
        .await;
    let ranked = app.text("#pilot-suggestions").await;
    assert!(
        ranked.find("Yes").unwrap() < ranked.find("No").unwrap(),
        "{ranked}"
    );
    app.screenshot("flowpilot-suggestions").await;
    let sent = anthropic.seen()[0].body.to_string();
    assert!(!sent.contains("Hunter2!xQ"), "{sent}");
    assert!(sent.contains("router admin password is"), "{sent}");
    anthropic.assert_no_violations();

    // At the finish, FlowPilot drafts the summary and next steps (the stronger model).
    anthropic.script(answer_stream(
        "The laptop reached the internet; the VPN client needed reinstalling.\nNEXT STEPS:\n- Watch the tunnel for a day.",
        "claude-sonnet-4-6",
    ));
    app.press("f").await;
    app.wait_for("#finish-dialog").await;
    app.click("#draft-summary").await;
    let drafted = eventually(|| async {
        let summary = app
            .wait_for("#summary")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default();
        if summary.contains("reinstalling") {
            Ok(summary)
        } else {
            Err(format!("the summary reads {summary:?}"))
        }
    })
    .await;
    assert_eq!(
        drafted,
        "The laptop reached the internet; the VPN client needed reinstalling."
    );
    let next = app
        .wait_for("#next-steps")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(next, "- Watch the tunnel for a day.");
    assert_eq!(anthropic.seen()[1].body["model"], "claude-sonnet-4-6");
    app.screenshot("flowpilot-draft-summary").await;
    app.press(ESCAPE).await;

    server.pause().await;
    app.click("#ask-pilot").await;
    app.wait_for("#pilot-unavailable").await;
    let said = app.text("#pilot-unavailable").await;
    assert!(said.contains("path statistics"), "{said}");
    app.screenshot("flowpilot-offline").await;
    server.resume().await;
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// The Anthropic key the test servers hold (the stand-in checks none).
fn rf_sync_server_key() -> rf_tests::vendors::AnthropicKey {
    rf_tests::vendors::AnthropicKey("sk-ant-test".into())
}

/// A server whose Contoso team is connected to a fresh ConnectWise stand-in, and its team
/// admin's token.
async fn connected_to_connectwise() -> (TestServer, rf_tests::vendors::ConnectWiseSite, String) {
    use rf_tests::vendors::{ConnectWiseSite, vendor_config};
    let server = TestServer::start_with(Backend::Sqlite, vendor_config()).await;
    let site = ConnectWiseSite::start("contoso").await;
    let admin = server.token("tia@contoso.example").await;
    let (status, body) = server
        .put(
            "/api/v1/psa/connection",
            Some(&admin),
            serde_json::json!({"site": site.site, "company_id": "contoso",
                               "public_key": "PubKey1234", "private_key": "S3cr3t-Priv/9"}),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{body}");
    (server, site, admin)
}

/// Offline, "Post to ticket" queues the note and says so; when the sync server is back, the
/// background sync posts it, once, and the session view says it is posted.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_made_offline_is_posted_once_when_the_server_is_back() {
    let (mut server, site, _) = connected_to_connectwise().await;
    let laptop = Device::new();
    laptop.login(&server, "ada@contoso.example").await;
    laptop.import(flow()).await;
    let session = laptop.run_session("48214").await;
    let link = format!("resolutionflow://session/{session}");
    let app = App::on(&laptop, &[&link]).await;
    app.wait_for("#ticket-post").await;
    server.pause().await;
    app.click("#post-to-ticket").await;
    app.wait_for_text("#ticket-posts", "Queued for #48214")
        .await;
    app.screenshot("post-queued-offline").await;
    assert!(site.notes(48214).is_empty());

    server.resume().await;
    sync_now(&app).await;
    app.wait_for_text("#ticket-posts", "Posted to #48214").await;
    assert_eq!(site.notes(48214).len(), 1);
    sync_now(&app).await;
    app.wait_for_text("#status-bar", "Synced").await;
    assert_eq!(site.notes(48214).len(), 1, "posted once");
    app.client.clone().close().await.unwrap();
    server.stop().await;
}

/// A teammate hands a session to the app's engineer: sync brings it and the app says so, Home
/// lists it under "Handed to you", and taking it over continues it in the runner, whose path
/// shows the hand-off and its note. The giver's laptop can no longer write it.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_handed_to_you_is_said_listed_on_home_and_taken_over() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (ada, bob) = (Device::new(), Device::new());
    ada.login(&server, "ada@contoso.example").await;
    bob.login(&server, "bob@contoso.example").await;
    ada.import(flow()).await;
    let session = ada
        .with(|replica| {
            let id = replica
                .start_session(
                    uuid::Uuid::parse_str(FLOW_ID).unwrap(),
                    rf_core::session::StartRequest {
                        ticket: "T-3307".into(),
                        client: "Contoso".into(),
                        engineer: "ada@contoso.example".into(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .id;
            replica
                .run_command(
                    id,
                    rf_core::session::Command::Answer {
                        choice: rf_core::session::Choice::parse("yes"),
                    },
                )
                .unwrap();
            id
        })
        .await;
    // A first sync brings the team's members, so the hand-off is checked on the laptop.
    ada.sync().await.unwrap();
    ada.with(move |replica| {
        replica
            .hand_off(
                session,
                "bob@contoso.example",
                Some("Reinstalled the client; need domain admin for the NPS policy".into()),
            )
            .unwrap();
    })
    .await;
    ada.sync().await.unwrap();

    let app = App::on(&bob, &[]).await;
    app.wait_for_text("#toasts", "was handed to you").await;
    app.wait_for_text("#home .handed", "VPN will not connect")
        .await;
    let home = app.text("#home").await;
    assert!(home.contains("T-3307"), "{home}");
    assert!(home.contains("from ada@contoso.example"), "{home}");
    app.screenshot("home-handed-to-you").await;
    app.click(&format!("#home .handed [data-session-id='{session}']"))
        .await;
    app.wait_for("#runner").await;
    let before = step_title(&app).await;
    app.press("1").await;
    let after = next_step(&app, &before).await;
    assert_ne!(before, after);
    app.screenshot("runner-taken-over").await;

    // Bob's step reaches the team (the app syncs after a change); Ada's laptop shows it and
    // cannot add to it.
    eventually(|| async {
        ada.sync().await.unwrap();
        let count = ada
            .with(move |replica| replica.session(session).unwrap().state.event_count)
            .await;
        match count > 6 {
            true => Ok(()),
            false => Err(format!("Ada's laptop holds {count} events")),
        }
    })
    .await;
    app.client.clone().close().await.unwrap();
    let refused = ada
        .with(move |replica| {
            replica
                .run_command(
                    session,
                    rf_core::session::Command::Note {
                        text: "one more".into(),
                    },
                )
                .unwrap_err()
                .to_string()
        })
        .await;
    assert!(refused.contains("worked by another engineer"), "{refused}");
    server.stop().await;
}
