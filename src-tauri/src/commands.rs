//! The app's commands: each one a few lines over rf-replica's services. Names, arguments and
//! answers are declared in rf-app-api; `registered_names_match_the_contract` holds them to it.
//! Replica work runs on the blocking pool, never on the main thread or an async worker.

use rf_app_api::commands::{
    ActArgs, AskPilotArgs, AttachFileArgs, BatchTargets, HandOffArgs, LogInArgs, PostToTicketArgs,
    ResolveConflictArgs, RunTargetArgs, SaveDraftArgs, SaveTargetListArgs, SetPinArgs,
    StartBatchArgs,
};
use rf_app_api::events::SyncStatus;
use rf_app_api::links::Link;
use rf_app_api::views::{BatchSummary, BatchView, DueWork, TargetListView};
use rf_app_api::{
    CommandError, ConflictRecord, ErrorKind, FlowDetail, FlowFolder, FlowSummary, Home, Library,
    LibraryFilter, SessionSummary, SessionView, Settings, StartSession, Theme, TicketPost,
};
use rf_replica::background::Nudge;
use rf_replica::{Replica, client, environment};
use tauri::State;
use uuid::Uuid;

use crate::shell::{self, Shell};

type Answer<T> = Result<T, CommandError>;

/// Runs `work` on the replica on the blocking pool.
async fn on_replica<T: Send + 'static>(
    shell: &Shell,
    work: impl FnOnce(&mut Replica) -> rf_replica::Result<T> + Send + 'static,
) -> Answer<T> {
    let replica = shell.replica()?;
    tauri::async_runtime::spawn_blocking(move || {
        let mut replica = shell::lock(&replica)?;
        work(&mut replica).map_err(CommandError::from)
    })
    .await
    .map_err(|error| {
        CommandError::new(
            ErrorKind::Storage,
            format!("the action stopped unexpectedly ({error}); nothing half-written was kept"),
        )
    })?
}

/// Runs `work` on a thread of its own, outside the async runtime: reqwest's blocking client
/// (the login) must not run inside one, and a slow server must not hold the replica's lock.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Answer<T> + Send + 'static,
) -> Answer<T> {
    let stopped = |error: String| {
        CommandError::new(
            ErrorKind::Storage,
            format!("the action stopped unexpectedly ({error}); nothing half-written was kept"),
        )
    };
    tauri::async_runtime::spawn_blocking(move || {
        std::thread::Builder::new()
            .name("login".into())
            .spawn(work)
            .map_err(|error| stopped(error.to_string()))?
            .join()
            .map_err(|_| stopped("it panicked".into()))?
    })
    .await
    .map_err(|error| stopped(error.to_string()))?
}

/// After a local change: sync soon, and tell the status bar what is pending now.
fn changed_here(shell: &Shell) {
    shell.nudge(Nudge::LocalChange);
    if let Ok(status) = shell.status() {
        shell.effects().status_changed(&status);
    }
}

#[tauri::command]
pub async fn status(shell: State<'_, Shell>, args: ()) -> Answer<SyncStatus> {
    let () = args;
    let link = shell.link();
    let replica = shell.replica()?;
    tauri::async_runtime::spawn_blocking(move || shell::status_of(&*shell::lock(&replica)?, &link))
        .await
        .map_err(|error| CommandError::new(ErrorKind::Storage, error.to_string()))?
}

#[tauri::command]
pub async fn load_home(shell: State<'_, Shell>, args: ()) -> Answer<Home> {
    let () = args;
    on_replica(&shell, |replica| replica.home()).await
}

#[tauri::command]
pub async fn load_library(shell: State<'_, Shell>, args: LibraryFilter) -> Answer<Library> {
    on_replica(&shell, move |replica| replica.library(&args)).await
}

#[tauri::command]
pub async fn load_flow(shell: State<'_, Shell>, args: Uuid) -> Answer<FlowDetail> {
    on_replica(&shell, move |replica| replica.flow_detail(args)).await
}

#[tauri::command]
pub async fn load_flow_version(
    shell: State<'_, Shell>,
    args: rf_core::session::FlowRef,
) -> Answer<rf_core::Flow> {
    on_replica(&shell, move |replica| replica.flow_version(args)).await
}

#[tauri::command]
pub async fn find_flow(shell: State<'_, Shell>, args: String) -> Answer<FlowSummary> {
    on_replica(&shell, move |replica| {
        let id = replica.resolve_flow(&args)?;
        replica.flow(id).map(|flow| flow.summary)
    })
    .await
}

#[tauri::command]
pub async fn set_pin(shell: State<'_, Shell>, args: SetPinArgs) -> Answer<bool> {
    let changed = on_replica(&shell, move |replica| {
        if args.pinned {
            replica.pin_flow(args.flow_id)
        } else {
            replica.unpin_flow(args.flow_id)
        }
    })
    .await?;
    changed_here(&shell);
    if changed {
        // Home and the tray list pinned flows.
        shell.effects().data_changed(rf_app_api::events::Changed {
            flows: true,
            ..Default::default()
        });
    }
    Ok(changed)
}

#[tauri::command]
pub async fn list_sessions(shell: State<'_, Shell>, args: ()) -> Answer<Vec<SessionSummary>> {
    let () = args;
    on_replica(&shell, |replica| replica.sessions()).await
}

#[tauri::command]
pub async fn start_session(shell: State<'_, Shell>, args: StartSession) -> Answer<SessionView> {
    let view = on_replica(&shell, move |replica| {
        let engineer = replica.engineer(None)?;
        replica.start_session_view(args, engineer)
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn load_session(shell: State<'_, Shell>, args: Uuid) -> Answer<SessionView> {
    on_replica(&shell, move |replica| replica.session_view(args)).await
}

#[tauri::command]
pub async fn act(shell: State<'_, Shell>, args: ActArgs) -> Answer<SessionView> {
    let view = on_replica(&shell, move |replica| {
        replica.act(args.session_id, args.commands)
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn save_draft(shell: State<'_, Shell>, args: SaveDraftArgs) -> Answer<()> {
    // A draft is local to this device: nothing to sync.
    on_replica(&shell, move |replica| {
        replica.save_draft(args.session_id, &args.text)
    })
    .await
}

#[tauri::command]
pub async fn sync_now(shell: State<'_, Shell>, args: ()) -> Answer<()> {
    let () = args;
    shell.nudge(Nudge::SyncNow);
    Ok(())
}

#[tauri::command]
pub async fn open_link(shell: State<'_, Shell>, args: String) -> Answer<()> {
    let url = args.trim();
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https" | "mailto")) {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            format!("“{url}” is not a web or mail link, so it was not opened"),
        ));
    }
    shell.effects().open_link(url).map_err(|error| {
        CommandError::new(ErrorKind::Invalid, format!("could not open {url}: {error}"))
    })
}

#[tauri::command]
pub async fn copy_text(shell: State<'_, Shell>, args: String) -> Answer<()> {
    shell.effects().copy_text(&args).map_err(|error| {
        CommandError::new(
            ErrorKind::Invalid,
            format!(
                "could not copy to the clipboard ({error}); select the text and copy it by hand"
            ),
        )
    })
}

#[tauri::command]
pub async fn painted(shell: State<'_, Shell>, args: ()) -> Answer<()> {
    let () = args;
    shell.painted();
    Ok(())
}

#[tauri::command]
pub async fn take_link(shell: State<'_, Shell>, args: ()) -> Answer<Option<Link>> {
    let () = args;
    Ok(shell.take_link())
}

#[tauri::command]
pub async fn attach_file(shell: State<'_, Shell>, args: AttachFileArgs) -> Answer<SessionView> {
    let AttachFileArgs { session_id, path } = args;
    let view = on_replica(&shell, move |replica| {
        replica.attach_file(session_id, std::path::Path::new(&path))?;
        replica.session_view(session_id)
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn pick_files(shell: State<'_, Shell>, args: ()) -> Answer<Vec<String>> {
    let () = args;
    let effects = shell.effects_handle();
    let picked = tauri::async_runtime::spawn_blocking(move || {
        effects.pick_files("Attach files to this step")
    })
    .await
    .map_err(|error| CommandError::new(ErrorKind::Invalid, error.to_string()))?;
    Ok(picked
        .into_iter()
        .map(|path| path.display().to_string())
        .collect())
}

#[tauri::command]
pub async fn export_flow(shell: State<'_, Shell>, args: Uuid) -> Answer<String> {
    let Some(dir) = shell.flow_folder().dir else {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            "no flows folder is watched: choose one in Settings, then export again",
        ));
    };
    on_replica(&shell, move |replica| {
        replica
            .export_flow_to(args, std::path::Path::new(&dir))
            .map(|path| path.display().to_string())
    })
    .await
}

#[tauri::command]
pub async fn list_conflicts(shell: State<'_, Shell>, args: ()) -> Answer<Vec<ConflictRecord>> {
    let () = args;
    on_replica(&shell, |replica| replica.conflicts(false)).await
}

#[tauri::command]
pub async fn resolve_conflict(
    shell: State<'_, Shell>,
    args: ResolveConflictArgs,
) -> Answer<ConflictRecord> {
    let resolved = on_replica(&shell, move |replica| {
        replica.resolve_conflict(args.id, args.keep)
    })
    .await?;
    changed_here(&shell);
    shell.effects().data_changed(rf_app_api::events::Changed {
        flows: true,
        conflicts: true,
        ..Default::default()
    });
    Ok(resolved)
}

#[tauri::command]
pub async fn load_settings(shell: State<'_, Shell>, args: ()) -> Answer<Settings> {
    let () = args;
    settings_now(&shell).await
}

/// The settings screen as it stands, what only the desktop knows included.
async fn settings_now(shell: &Shell) -> Answer<Settings> {
    let tokens = shell.tokens();
    let settings = on_replica(shell, move |replica| environment::settings(replica, tokens)).await?;
    Ok(with_desktop(shell, settings))
}

/// Fills in what only the desktop knows: start at login, and whether the shortcut works.
fn with_desktop(shell: &Shell, mut settings: Settings) -> Settings {
    settings.start_at_login = shell.effects().start_at_login();
    settings.shortcut_problem = shell.effects().shortcut_problem();
    settings
}

#[tauri::command]
pub async fn set_start_at_login(shell: State<'_, Shell>, args: bool) -> Answer<Settings> {
    shell.effects().set_start_at_login(args).map_err(|error| {
        CommandError::new(
            ErrorKind::Invalid,
            format!("starting at login could not be changed: {error}"),
        )
    })?;
    settings_now(&shell).await
}

#[tauri::command]
pub async fn set_shortcut(shell: State<'_, Shell>, args: String) -> Answer<Settings> {
    let shortcut = args.trim().to_string();
    if !shortcut.is_empty() && crate::parse_shortcut(&shortcut).is_err() {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            format!(
                "“{shortcut}” is not a shortcut; write modifiers and one key joined by +, e.g. Ctrl+Alt+Space"
            ),
        ));
    }
    let chosen = shortcut.clone();
    on_replica(&shell, move |replica| {
        replica.set_preference(rf_replica::SHORTCUT, Some(&chosen))
    })
    .await?;
    // A shortcut taken by another program is kept all the same: the screen says why it
    // does not fire (and what to bind instead), and it is tried again at the next start.
    let _ = shell.effects().set_shortcut(&shortcut);
    settings_now(&shell).await
}

#[tauri::command]
pub async fn load_theme(shell: State<'_, Shell>, args: ()) -> Answer<Theme> {
    let () = args;
    on_replica(&shell, |replica| replica.theme()).await
}

#[tauri::command]
pub async fn set_theme(shell: State<'_, Shell>, args: Theme) -> Answer<Settings> {
    on_replica(&shell, move |replica| {
        replica.set_preference(rf_replica::THEME, Some(args.as_str()))
    })
    .await?;
    settings_now(&shell).await
}

#[tauri::command]
pub async fn log_in(shell: State<'_, Shell>, args: LogInArgs) -> Answer<Settings> {
    let LogInArgs {
        server_url,
        email,
        password,
    } = args;
    let server_url = server_url.trim().to_string();
    let email = email.trim().to_string();
    if server_url.is_empty() || email.is_empty() || password.is_empty() {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            "give the sync server's address, your e-mail and your password",
        ));
    }
    let (dir, tokens) = (shell.data_dir()?, shell.tokens());
    // Its own connection to the replica, like background sync: the screens stay usable
    // while the server is slow to answer.
    let settings = off_runtime(move || {
        let mut replica = Replica::open(&dir)?;
        let store = tokens.open(&replica)?;
        client::login(
            &mut replica,
            store.as_ref(),
            &server_url,
            &email,
            &password,
            environment::client_options(),
        )
        .map_err(|error| match error {
            // Its own words say to run `rf login`; here the form is right in front of them.
            rf_replica::ReplicaError::LoginRequired(why) => CommandError::new(
                ErrorKind::NotLoggedIn,
                format!("the server refused the login ({why}): check the e-mail and password"),
            ),
            other => CommandError::from(other),
        })?;
        Ok(environment::settings(&replica, tokens)?)
    })
    .await?;
    shell.login_changed(None);
    Ok(with_desktop(&shell, settings))
}

#[tauri::command]
pub async fn log_out(shell: State<'_, Shell>, args: ()) -> Answer<Settings> {
    let () = args;
    let tokens = shell.tokens();
    let settings = on_replica(&shell, move |replica| {
        tokens.open(replica)?.delete()?;
        environment::settings(replica, tokens)
    })
    .await?;
    shell.login_changed(Some(
        "logged out: your work stays here and syncs after you sign in again in Settings".into(),
    ));
    Ok(with_desktop(&shell, settings))
}

#[tauri::command]
pub async fn set_flows_dir(shell: State<'_, Shell>, args: Option<String>) -> Answer<Settings> {
    let dir = args
        .map(|dir| dir.trim().to_string())
        .filter(|dir| !dir.is_empty());
    if let Some(dir) = &dir {
        let path = std::path::Path::new(dir);
        if !path.is_absolute() {
            return Err(CommandError::new(
                ErrorKind::Invalid,
                format!("“{dir}” is not a full path; give the folder's whole path, from /"),
            ));
        }
        if !path.is_dir() {
            return Err(CommandError::new(
                ErrorKind::Invalid,
                format!("there is no folder {dir}; create it first, or pick another"),
            ));
        }
    }
    let tokens = shell.tokens();
    let chosen = dir.clone();
    let settings = on_replica(&shell, move |replica| {
        replica.set_preference(rf_replica::FLOWS_DIR, chosen.as_deref())?;
        environment::settings(replica, tokens)
    })
    .await?;
    // RF_FLOWS_DIR goes on overriding the choice while it is set.
    if settings.flows_dir_override.is_none() {
        shell
            .effects()
            .watch_folder(dir.as_deref().map(std::path::Path::new));
    }
    Ok(with_desktop(&shell, settings))
}

#[tauri::command]
pub async fn load_flow_folder(shell: State<'_, Shell>, args: ()) -> Answer<FlowFolder> {
    let () = args;
    Ok(shell.flow_folder())
}

#[tauri::command]
pub async fn lookup_ticket(
    shell: State<'_, Shell>,
    args: i64,
) -> Answer<rf_core::psa::TicketSummary> {
    if args < 1 {
        return Err(CommandError::new(
            ErrorKind::Invalid,
            "a ticket number is a positive whole number",
        ));
    }
    let (dir, tokens) = (shell.data_dir()?, shell.tokens());
    // Its own connection, like the login: a slow ConnectWise must not hold the replica.
    off_runtime(move || {
        let replica = Replica::open(&dir)?;
        let store = tokens.open(&replica)?;
        Ok(rf_replica::psa::ticket(
            &replica,
            store.as_ref(),
            environment::client_options(),
            args,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn list_ticket_posts(shell: State<'_, Shell>, args: Uuid) -> Answer<Vec<TicketPost>> {
    on_replica(&shell, move |replica| replica.ticket_posts(Some(args))).await
}

#[tauri::command]
pub async fn post_to_ticket(shell: State<'_, Shell>, args: PostToTicketArgs) -> Answer<TicketPost> {
    let post = on_replica(&shell, move |replica| {
        replica.queue_post(rf_replica::posts::NewPost {
            session_id: args.session_id,
            ticket_id: args.ticket_id,
            flags: args.flags,
            status: args.status,
            text: args.text,
            redacted: args.redacted,
            again: args.again,
            time: args.time,
        })
    })
    .await?;
    // The background sync posts it after its round (at once when the server can be reached).
    shell.nudge(Nudge::SyncNow);
    Ok(post)
}

#[tauri::command]
pub async fn ask_pilot(
    shell: State<'_, Shell>,
    args: AskPilotArgs,
) -> Answer<rf_core::ai::PilotDone> {
    let (dir, tokens, effects) = (shell.data_dir()?, shell.tokens(), shell.effects_handle());
    let task = if args.summarize {
        rf_core::ai::PilotTask::Summarize
    } else {
        rf_core::ai::PilotTask::Suggest
    };
    let session = args.session_id;
    // Its own connection, like the login: the answer streams for seconds.
    off_runtime(move || {
        let replica = Replica::open(&dir)?;
        let store = tokens.open(&replica)?;
        let mut on_text = |text: &str| effects.pilot_text(session, text);
        Ok(rf_replica::pilot::ask(
            &replica,
            store.as_ref(),
            environment::client_options(),
            task,
            session,
            &mut on_text,
        )?)
    })
    .await
}

#[tauri::command]
pub async fn list_batches(shell: State<'_, Shell>, args: ()) -> Answer<Vec<BatchSummary>> {
    let () = args;
    on_replica(&shell, |replica| replica.batches()).await
}

#[tauri::command]
pub async fn load_batch(shell: State<'_, Shell>, args: Uuid) -> Answer<BatchView> {
    on_replica(&shell, move |replica| replica.batch_view(&args.to_string())).await
}

#[tauri::command]
pub async fn start_batch(shell: State<'_, Shell>, args: StartBatchArgs) -> Answer<BatchView> {
    let view = on_replica(&shell, move |replica| {
        let engineer = replica.engineer(None)?;
        let (id, _) = replica.start_batch(rf_replica::work::NewBatch {
            flow_id: args.flow_id,
            targets: match args.targets {
                BatchTargets::Given(targets) => rf_replica::work::Targets::Given(targets),
                BatchTargets::List { name, client } => {
                    rf_replica::work::Targets::List { name, client }
                }
            },
            ticket: args.ticket,
            client: args.client,
            variables: args.variables,
            scheduled: None,
            engineer,
        })?;
        replica.batch_view(&id.to_string())
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn run_target(shell: State<'_, Shell>, args: RunTargetArgs) -> Answer<SessionView> {
    let view = on_replica(&shell, move |replica| {
        let engineer = replica.engineer(None)?;
        let run = replica.run_target(&args.batch_id.to_string(), &args.target, &engineer)?;
        replica.session_view(run.session.id)
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn list_target_lists(shell: State<'_, Shell>, args: ()) -> Answer<Vec<TargetListView>> {
    let () = args;
    on_replica(&shell, |replica| replica.target_lists()).await
}

#[tauri::command]
pub async fn save_target_list(
    shell: State<'_, Shell>,
    args: SaveTargetListArgs,
) -> Answer<TargetListView> {
    let list = on_replica(&shell, move |replica| {
        replica.set_target_list(&args.client, &args.name, args.targets)
    })
    .await?;
    changed_here(&shell);
    Ok(list)
}

#[tauri::command]
pub async fn load_due_work(shell: State<'_, Shell>, args: ()) -> Answer<DueWork> {
    let () = args;
    on_replica(&shell, |replica| replica.due_work_now()).await
}

#[tauri::command]
pub async fn list_team_members(
    shell: State<'_, Shell>,
    args: (),
) -> Answer<Vec<rf_core::sync::TeamMember>> {
    let () = args;
    on_replica(&shell, |replica| replica.team_members()).await
}

#[tauri::command]
pub async fn hand_off(shell: State<'_, Shell>, args: HandOffArgs) -> Answer<SessionView> {
    let view = on_replica(&shell, move |replica| {
        replica.hand_off(args.session_id, &args.to_email, args.note)?;
        replica.session_view(args.session_id)
    })
    .await?;
    changed_here(&shell);
    Ok(view)
}

#[tauri::command]
pub async fn handed_to_me(shell: State<'_, Shell>, args: ()) -> Answer<Vec<SessionSummary>> {
    let () = args;
    on_replica(&shell, |replica| replica.handed_to_me()).await
}
