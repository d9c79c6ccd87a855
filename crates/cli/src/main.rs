//! `rf`: the headless face of a ResolutionFlow replica, for scripting, SSH sessions and tests.
#![forbid(unsafe_code)]

mod args;
mod render;
mod work;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Parser;
use rf_core::Outcome;
use rf_core::export::{ExportFormat, ExportOptions, export};
use rf_core::session::{Choice, Command as SessionCommand, StartRequest};
use rf_replica::client::{self, ClientOptions};
use rf_replica::tokens::TokenStore;
use rf_replica::{Replica, ReplicaError, WriteSource, flow_files};

use crate::args::{
    AiCommand, Cli, Command, ConflictsCommand, FlowCommand, KeepArg, PsaCommand,
    SessionCommandArgs, TokenStoreKind,
};

/// Exit code for input that was understood but refused (invalid flow files, bad values).
const EXIT_INVALID: u8 = 2;
/// How long `rf status` waits for the sync server's health check before calling it offline.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe (`rf flow list | head`) is the reader's choice, not a failure.
            if error
                .downcast_ref::<io::Error>()
                .is_some_and(|io_error| io_error.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(io::stderr(), "error: {}", error_text(&error));
            let invalid = error.downcast_ref::<ReplicaError>().is_some_and(|replica| {
                matches!(
                    replica,
                    ReplicaError::Engine(_)
                        | ReplicaError::NotFound { .. }
                        | ReplicaError::Ambiguous { .. }
                        | ReplicaError::Invalid(_)
                        | ReplicaError::AttachmentTooLarge { .. }
                        | ReplicaError::LoginRequired(_)
                )
            });
            ExitCode::from(if invalid { EXIT_INVALID } else { 1 })
        }
    }
}

/// The error and its causes on one line, each said once: a cause whose text its parent's
/// message already holds (thiserror's `{0}` beside `#[from]`) is not repeated.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if message.is_empty() || text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn open(cli_dir: &Option<PathBuf>) -> anyhow::Result<Replica> {
    let dir = match cli_dir {
        Some(dir) => dir.clone(),
        None => rf_replica::environment::default_data_dir()?,
    };
    Replica::open(&dir).with_context(|| format!("cannot open the replica in {}", dir.display()))
}

fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let mut replica = open(&cli.data_dir)?;
    match cli.command {
        Command::Flow { command } => run_flow(&mut replica, command, out),
        Command::Session { command } => run_session(&mut replica, command, out),
        Command::Status { json } => {
            let online = replica
                .sync_account()?
                .map(|account| client::server_reachable(&account.server_url, PROBE_TIMEOUT));
            let status = replica.status_report(online)?;
            if json {
                write_json(out, &status)?;
            } else {
                writeln!(out, "data directory: {}", status.data_dir)?;
                writeln!(
                    out,
                    "pending: {} ({} flow/pin changes, {} session events)",
                    status.pending.pending(),
                    status.pending.mutations,
                    status.pending.events
                )?;
                if status.pending.rejected > 0 {
                    writeln!(
                        out,
                        "refused by the server: {} change(s)",
                        status.pending.rejected
                    )?;
                }
                if status.pending.refused_events > 0 {
                    writeln!(
                        out,
                        "refused by the server: {} session event(s) (they stay here; the team does not get them)",
                        status.pending.refused_events
                    )?;
                }
                if status.pending.set_aside > 0 {
                    writeln!(
                        out,
                        "set aside: {} item(s) from the team that this device cannot use (damaged or malformed; the rest synced)",
                        status.pending.set_aside
                    )?;
                }
                if status.pending.needs_newer_version > 0 {
                    writeln!(
                        out,
                        "needs a newer version: {} session event(s) written by a newer ResolutionFlow are kept and skipped; update to see them",
                        status.pending.needs_newer_version
                    )?;
                }
                match &status.sync {
                    None => writeln!(out, "sync: not logged in (rf login --server URL --email E)")?,
                    Some(account) => {
                        writeln!(out, "sync: {} as {}", account.server_url, account.email)?;
                        if status.online == Some(false) {
                            writeln!(
                                out,
                                "server: offline (cannot reach it now; work stays here and syncs when it is back)"
                            )?;
                        } else {
                            writeln!(out, "server: online")?;
                        }
                        writeln!(
                            out,
                            "last sync: {}",
                            account.last_sync_at.as_deref().unwrap_or("never")
                        )?;
                        if let Some(error) = &account.last_error {
                            writeln!(out, "last attempt failed: {error}")?;
                        }
                    }
                }
                if status.conflicts > 0 {
                    writeln!(out, "conflicts: {} (rf conflicts list)", status.conflicts)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Login {
            server,
            email,
            store,
        } => {
            let tokens = token_store(&replica, store.kind)?;
            let password = match std::env::var("RF_PASSWORD") {
                Ok(password) => password,
                Err(_) => rpassword::prompt_password(format!("password for {email}: "))
                    .context("cannot read the password; set RF_PASSWORD")?,
            };
            let account = client::login(
                &mut replica,
                tokens.as_ref(),
                &server,
                &email,
                &password,
                ClientOptions::default(),
            )?;
            writeln!(
                out,
                "logged in to {} as {} ({}, team {}); tokens in {}",
                server.trim_end_matches('/'),
                account.email,
                account.role,
                account.team,
                tokens.describe()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Password { store } => {
            let tokens = token_store(&replica, store.kind)?;
            let secret = |variable: &str, prompt: &str| -> anyhow::Result<String> {
                match std::env::var(variable) {
                    Ok(value) => Ok(value),
                    Err(_) => rpassword::prompt_password(prompt)
                        .with_context(|| format!("cannot read the password; set {variable}")),
                }
            };
            let current = secret("RF_PASSWORD", "current password: ")?;
            let new = secret("RF_NEW_PASSWORD", "new password (at least 12 characters): ")?;
            if std::env::var_os("RF_NEW_PASSWORD").is_none()
                && rpassword::prompt_password("new password again: ")? != new
            {
                return Err(anyhow!("the two new passwords differ; nothing was changed"));
            }
            client::change_password(&replica, tokens.as_ref(), &current, &new, sync_options())?;
            writeln!(
                out,
                "password changed; your other devices must log in again (rf login)"
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logout { store } => {
            let tokens = token_store(&replica, store.kind)?;
            if tokens.delete()? {
                writeln!(
                    out,
                    "logged out; pending work stays here and syncs after the next rf login"
                )?;
            } else {
                writeln!(out, "not logged in")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync {
            json,
            store,
            watch: true,
            period,
        } => {
            let tokens = token_store(&replica, store.kind)?;
            let account = replica
                .sync_account()?
                .ok_or_else(|| anyhow!("not logged in; run rf login --server URL --email E"))?;
            let syncer = client::Syncer::new(&account.server_url, sync_options())?;
            let stop = || false;
            let mut report = |result: &Result<client::SyncReport, ReplicaError>| {
                let stamp = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let line = match (result, json) {
                    (Ok(report), true) => serde_json::to_string(report).unwrap_or_default(),
                    (Ok(report), false) => format!(
                        "{stamp} synced: pushed {} change(s) and {} event(s), pulled {} event(s); {} pending, {} conflict(s)",
                        report.mutations_applied,
                        report.events_acknowledged,
                        report.pulled.events,
                        report.pending,
                        report.conflicts
                    ),
                    (Err(error), _) => format!("{stamp} {error}"),
                };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            };
            syncer.watch(
                &mut replica,
                tokens.as_ref(),
                std::time::Duration::from_secs(period.max(1)),
                &stop,
                &mut report,
            );
            Err(anyhow!("the login is no longer valid; run rf login again"))
        }
        Command::Sync { json, store, .. } => {
            let tokens = token_store(&replica, store.kind)?;
            let report = client::sync(&mut replica, tokens.as_ref(), sync_options())?;
            if json {
                write_json(out, &report)?;
            } else {
                writeln!(
                    out,
                    "pushed: {} change(s), {} event(s){}",
                    report.mutations_applied,
                    report.events_acknowledged,
                    if report.mutations_rejected > 0 {
                        format!(
                            "; {} refused (rf status shows why)",
                            report.mutations_rejected
                        )
                    } else {
                        String::new()
                    }
                )?;
                writeln!(
                    out,
                    "pulled: {} flow version(s), {} head change(s), {} event(s)",
                    report.pulled.versions, report.pulled.heads, report.pulled.events
                )?;
                if report.conflicts > 0 {
                    writeln!(
                        out,
                        "conflicts: {} waiting (rf conflicts list)",
                        report.conflicts
                    )?;
                }
                if report.posts_posted + report.posts_failed + report.posts_waiting > 0 {
                    writeln!(
                        out,
                        "ticket notes: {} posted, {} waiting, {} refused (rf session posts)",
                        report.posts_posted, report.posts_waiting, report.posts_failed
                    )?;
                }
                if report.pulled.records > 0 {
                    writeln!(
                        out,
                        "batches, target lists and schedules: {} changed (rf batch list, rf due)",
                        report.pulled.records
                    )?;
                }
                for session in replica.handed_to_me()? {
                    writeln!(
                        out,
                        "handed to you: {} {} ({}; rf session show {})",
                        render::short(session.id),
                        session.flow_title,
                        session.ticket,
                        render::short(session.id)
                    )?;
                }
            }
            if report.pulled.set_aside + report.attachments_set_aside > 0 {
                writeln!(
                    out,
                    "set aside: {} item(s) from the team this device cannot use (rf status)",
                    report.pulled.set_aside + report.attachments_set_aside
                )?;
            }
            if let Some(identity) = report.new_identity {
                writeln!(
                    out,
                    "new device id: {} — another copy of this replica (restored from a backup, or copied to another machine) had used the old one; {} event(s) and {} change(s) went up under the new id{}",
                    identity.device_id,
                    identity.events,
                    identity.mutations,
                    if identity.forked_sessions > 0 {
                        format!(
                            ", and {} session(s) continued on both copies are now separate sessions (nothing lost)",
                            identity.forked_sessions
                        )
                    } else {
                        String::new()
                    }
                )?;
            }
            if !report.kinds_the_server_lacks.is_empty() {
                writeln!(
                    io::stderr(),
                    "error: the sync server does not know {} yet (written by this newer version); those events stay saved here until its administrator updates it",
                    report.kinds_the_server_lacks.join(", ")
                )?;
                return Ok(ExitCode::from(1));
            }
            if report.pending > 0 {
                writeln!(
                    io::stderr(),
                    "error: {} change(s) are still waiting for the server; they are saved here, run rf sync again",
                    report.pending
                )?;
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Conflicts { command } => run_conflicts(&mut replica, command, out),
        Command::Psa { command } => run_psa(&replica, command, out),
        Command::Ai { command } => run_ai(&replica, command, out),
        Command::Batch { command } => work::run_batch(&mut replica, command, out),
        Command::Targets { command } => work::run_targets(&mut replica, command, out),
        Command::Schedule { command } => work::run_schedule(&mut replica, command, out),
        Command::Due { json } => work::run_due(&replica, json, out),
    }
}

fn run_ai(replica: &Replica, command: AiCommand, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let (task, session, json, store) = match command {
        AiCommand::Suggest {
            session,
            json,
            store,
        } => (rf_core::ai::PilotTask::Suggest, session, json, store),
        AiCommand::Summarize {
            session,
            json,
            store,
        } => (rf_core::ai::PilotTask::Summarize, session, json, store),
    };
    let id = replica.resolve_session(&session)?;
    let tokens = token_store(replica, store.kind)?;
    let mut streamed = false;
    let mut on_text = |text: &str| {
        if !json {
            let _ = write!(out, "{text}");
            let _ = out.flush();
            streamed = true;
        }
    };
    let answer = rf_replica::pilot::ask(
        replica,
        tokens.as_ref(),
        sync_options(),
        task,
        id,
        &mut on_text,
    );
    let done = match answer {
        Ok(done) => done,
        Err(ReplicaError::Offline(reason)) => {
            return Err(anyhow!(
                "{reason}\nFlowPilot needs the sync server; meanwhile the team's path statistics guide you (rf session show, rf flow stats)"
            ));
        }
        Err(error) => return Err(error.into()),
    };
    if json {
        write_json(out, &done)?;
    } else {
        if streamed {
            writeln!(out)?;
        }
        render::pilot_footer(out, &done)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A session's time: from its start to its end (or its last event, if it is not finished).
fn session_time(replica: &Replica, id: uuid::Uuid) -> anyhow::Result<rf_core::psa::PostTime> {
    Ok(rf_core::psa::PostTime::of_session(
        &replica.session(id)?.state,
    ))
}

fn run_psa(
    replica: &Replica,
    command: PsaCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        PsaCommand::Connect {
            api_url,
            site,
            company,
            public_key,
            client_id,
            store,
        } => {
            let tokens = token_store(replica, store.kind)?;
            let private_key = match std::env::var("RF_PSA_PRIVATE_KEY") {
                Ok(key) => key,
                Err(_) => rpassword::prompt_password("ConnectWise private key: ")
                    .context("cannot read the private key; set RF_PSA_PRIVATE_KEY")?,
            };
            let request = rf_core::psa::PsaConnectRequest {
                api_url,
                site,
                company_id: company,
                public_key,
                private_key,
                client_id,
            };
            let view =
                rf_replica::psa::connect(replica, tokens.as_ref(), sync_options(), &request)?;
            render::psa_connection(out, &view)?;
            writeln!(
                out,
                "the keys are sealed on the sync server; this device keeps no copy"
            )?;
            Ok(ExitCode::SUCCESS)
        }
        PsaCommand::Show { json, store } => {
            let tokens = token_store(replica, store.kind)?;
            let view = rf_replica::psa::connection(replica, tokens.as_ref(), sync_options())?;
            if json {
                write_json(out, &view)?;
            } else {
                render::psa_connection(out, &view)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PsaCommand::Ticket { id, json, store } => {
            if id < 1 {
                return Err(anyhow!("a ticket number is a positive whole number"));
            }
            let tokens = token_store(replica, store.kind)?;
            let ticket = rf_replica::psa::ticket(replica, tokens.as_ref(), sync_options(), id)?;
            if json {
                write_json(out, &ticket)?;
            } else {
                render::ticket(out, &ticket)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PsaCommand::Members {
            json,
            map,
            unmap,
            store,
        } => {
            let tokens = token_store(replica, store.kind)?;
            let change = match (map, unmap) {
                (Some(pair), _) => {
                    let (email, member) = pair.split_once('=').ok_or_else(|| {
                        anyhow!("--map takes EMAIL=MEMBER, like ada@contoso.com=alovelace")
                    })?;
                    Some((email.trim().to_owned(), Some(member.trim().to_owned())))
                }
                (None, Some(email)) => Some((email.trim().to_owned(), None)),
                (None, None) => None,
            };
            if let Some((email, member)) = change {
                rf_replica::psa::map_member(
                    replica,
                    tokens.as_ref(),
                    sync_options(),
                    &email,
                    member.clone(),
                )?;
                match member {
                    Some(member) => writeln!(out, "{email} now records time as {member}")?,
                    None => writeln!(out, "{email} is matched by e-mail again")?,
                }
            }
            let members = rf_replica::psa::members(replica, tokens.as_ref(), sync_options())?;
            if json {
                write_json(out, &members)?;
            } else {
                render::members(out, &members)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn sync_options() -> ClientOptions {
    rf_replica::environment::client_options()
}

/// The token store the user chose. The keyring is the default; the file only when asked for.
fn token_store(replica: &Replica, kind: TokenStoreKind) -> anyhow::Result<Box<dyn TokenStore>> {
    let kind = match kind {
        TokenStoreKind::File => rf_replica::environment::TokenStoreKind::File,
        TokenStoreKind::Keyring => rf_replica::environment::TokenStoreKind::Keyring,
    };
    Ok(kind.open(replica)?)
}

fn run_conflicts(
    replica: &mut Replica,
    command: ConflictsCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        ConflictsCommand::List { json, all } => {
            let conflicts = replica.conflicts(all)?;
            if json {
                write_json(out, &conflicts)?;
            } else if conflicts.is_empty() {
                writeln!(out, "no conflicts")?;
            } else {
                for conflict in conflicts {
                    let show = |value: &Option<serde_json::Value>| match value {
                        Some(value) => value.to_string(),
                        None => "(absent)".into(),
                    };
                    writeln!(
                        out,
                        "{}\t{}\t{}\tkept: {}\tother: {} (from {}){}",
                        &conflict.id.to_string()[..8],
                        conflict.flow_title.as_deref().unwrap_or("(unknown flow)"),
                        conflict.conflict.path,
                        show(&conflict.conflict.kept),
                        show(&conflict.conflict.other),
                        conflict.raised_by,
                        match conflict.resolution {
                            Some(rf_core::sync::Keep::Mine) => "\tresolved: mine",
                            Some(rf_core::sync::Keep::Theirs) => "\tresolved: theirs",
                            None => "",
                        }
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ConflictsCommand::Resolve { id, keep } => {
            let id = replica.resolve_conflict_id(&id)?;
            let keep = match keep {
                KeepArg::Mine => rf_core::sync::Keep::Mine,
                KeepArg::Theirs => rf_core::sync::Keep::Theirs,
            };
            let resolved = replica.resolve_conflict(id, keep)?;
            writeln!(
                out,
                "resolved {} ({}): {}; run rf sync to share it",
                &resolved.id.to_string()[..8],
                resolved.conflict.path,
                match keep {
                    rf_core::sync::Keep::Mine => "your value is published as a new version",
                    rf_core::sync::Keep::Theirs => "the team's value stays",
                }
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

fn run_flow(
    replica: &mut Replica,
    command: FlowCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        FlowCommand::Import { paths, json } => {
            let mut invalid = false;
            let mut outcomes = Vec::new();
            for file in flow_files::collect(&paths) {
                let path = match file {
                    Ok(path) => path,
                    Err((path, problem)) => {
                        invalid = true;
                        eprintln_problem(&path, &format!("(flow): {problem}"));
                        continue;
                    }
                };
                match flow_files::read(&path) {
                    Ok(flow) => {
                        let outcome = replica
                            .import_flow(flow, WriteSource::Import)
                            .with_context(|| format!("cannot import {}", path.display()))?;
                        if !json {
                            writeln!(out, "{}\t{}", outcome.flow_id, outcome.title)?;
                        }
                        outcomes.push(outcome);
                    }
                    Err(problems) => {
                        invalid = true;
                        for problem in problems {
                            eprintln_problem(&path, &problem);
                        }
                    }
                }
            }
            if json {
                write_json(out, &outcomes)?;
            }
            for outcome in &outcomes {
                for missing in replica.missing_subflows(outcome.flow_id)? {
                    let _ = writeln!(
                        io::stderr(),
                        "warning: {:?} runs subflow {missing}, which is not in the library; import it before a session reaches that step",
                        outcome.title
                    );
                }
            }
            Ok(if invalid {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            })
        }
        FlowCommand::Validate { paths } => {
            let mut invalid = false;
            for file in flow_files::collect(&paths) {
                match file.map_err(|(path, problem)| (path, vec![format!("(flow): {problem}")])) {
                    Ok(path) => match flow_files::read(&path) {
                        Ok(flow) => {
                            writeln!(out, "{}: ok ({} nodes)", path.display(), flow.nodes.len())?
                        }
                        Err(problems) => {
                            invalid = true;
                            problems
                                .iter()
                                .for_each(|problem| eprintln_problem(&path, problem));
                        }
                    },
                    Err((path, problems)) => {
                        invalid = true;
                        problems
                            .iter()
                            .for_each(|problem| eprintln_problem(&path, problem));
                    }
                }
            }
            Ok(if invalid {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            })
        }
        FlowCommand::List { json } => {
            let flows = replica.flows()?;
            if json {
                write_json(out, &flows)?;
            } else {
                render::flow_table(out, &flows)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Search { query, json, limit } => {
            let hits = replica.search_flows(&query.join(" "), limit)?;
            if json {
                write_json(out, &hits)?;
            } else if hits.is_empty() {
                writeln!(out, "no flow matches {:?}", query.join(" "))?;
            } else {
                for hit in &hits {
                    writeln!(
                        out,
                        "{}\t{}\t{}",
                        hit.id,
                        hit.title,
                        hit.snippet.replace('\n', " ")
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Show { flow, json } => {
            let id = replica.resolve_flow(&flow)?;
            let stored = replica.flow(id)?;
            if json {
                write_json(out, &stored)?;
            } else {
                render::flow_details(out, &stored)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Export { flow, output } => {
            let id = replica.resolve_flow(&flow)?;
            let text = replica.flow(id)?.document.to_json_pretty();
            write_output(out, output.as_deref(), &text)?;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Stats { flow, json } => {
            let id = replica.resolve_flow(&flow)?;
            let stored = replica.flow(id)?;
            let stats = replica.path_statistics(id)?;
            if json {
                write_json(out, &stats)?;
            } else {
                render::flow_stats(out, &stored.document, &stats)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Pin { flow } => {
            let id = replica.resolve_flow(&flow)?;
            let changed = replica.pin_flow(id)?;
            writeln!(out, "{}", if changed { "pinned" } else { "already pinned" })?;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Unpin { flow } => {
            let id = replica.resolve_flow(&flow)?;
            let changed = replica.unpin_flow(id)?;
            writeln!(
                out,
                "{}",
                if changed {
                    "unpinned"
                } else {
                    "was not pinned"
                }
            )?;
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Pinned { json } => {
            let flows = replica.pinned_flows()?;
            if json {
                write_json(out, &flows)?
            } else {
                render::flow_table(out, &flows)?
            }
            Ok(ExitCode::SUCCESS)
        }
        FlowCommand::Recent { json, limit } => {
            let flows = replica.recent_flows(limit)?;
            if json {
                write_json(out, &flows)?
            } else {
                render::flow_table(out, &flows)?
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn eprintln_problem(path: &Path, problem: &str) {
    let _ = writeln!(io::stderr(), "{}: {problem}", path.display());
}

/// Writes to a file atomically (temporary file, then rename) or to standard output.
fn write_output(out: &mut impl Write, output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    let Some(path) = output else {
        out.write_all(text.as_bytes())?;
        return Ok(());
    };
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(directory)
        .with_context(|| format!("cannot write in {}", directory.display()))?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn parse_variables(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut variables = BTreeMap::new();
    for pair in pairs {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            ReplicaError::Invalid(format!("--var {pair:?} must look like name=value"))
        })?;
        if variables
            .insert(name.trim().to_owned(), value.to_owned())
            .is_some()
        {
            return Err(
                ReplicaError::Invalid(format!("--var {:?} is given twice", name.trim())).into(),
            );
        }
    }
    Ok(variables)
}

fn read_text_argument(text: Option<String>) -> anyhow::Result<String> {
    match text.as_deref() {
        Some("-") | None => {
            let mut buffer = String::new();
            io::stdin()
                .take(rf_core::session::MAX_TEXT_BYTES as u64 + 1)
                .read_to_string(&mut buffer)
                .context("cannot read standard input")?;
            Ok(buffer)
        }
        Some(_) => Ok(text.unwrap_or_default()),
    }
}

fn run_session(
    replica: &mut Replica,
    command: SessionCommandArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let (id, commands) = match command {
        SessionCommandArgs::Start {
            flow,
            ticket,
            client,
            vars,
            engineer,
        } => {
            let flow_id = replica.resolve_flow(&flow)?;
            let request = StartRequest {
                ticket,
                client,
                engineer: replica.engineer(engineer)?,
                variables: parse_variables(&vars)?,
            };
            let record = replica.start_session(flow_id, request)?;
            render::step(out, &replica.session_view(record.id)?)?;
            writeln!(out, "{}", record.id)?;
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Handoff { session, to, note } => {
            let id = replica.resolve_session(&session)?;
            let record = replica.hand_off(id, &to, note)?;
            let to = record
                .state
                .path
                .last()
                .map(|entry| entry.title.clone())
                .unwrap_or(to);
            writeln!(
                out,
                "handed to {to}; this device records nothing more on it. They continue it once their device has synced."
            )?;
            writeln!(out, "{id}")?;
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::List { json } => {
            let sessions = replica.sessions()?;
            if json {
                write_json(out, &sessions)?;
            } else {
                render::session_table(out, &sessions)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Show { session, json } => {
            let id = replica.resolve_session(&session)?;
            let view = replica.session_view(id)?;
            if json {
                write_json(out, &render::SessionJson::new(&view))?;
            } else {
                render::session_details(out, &view)?;
                render::step(out, &view)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Export {
            session,
            format,
            redact,
            output,
        } => {
            let id = replica.resolve_session(&session)?;
            let format = ExportFormat::parse(&format).ok_or_else(|| {
                ReplicaError::Invalid(format!("unknown format {format:?}; use md, txt or html"))
            })?;
            let record = replica.session(id)?;
            let exported = export(&record.state, format, ExportOptions { redact });
            write_output(out, output.as_deref(), &exported.text)?;
            if let Some(counts) = exported.redactions {
                let _ = writeln!(io::stderr(), "redaction: {counts}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Post {
            session,
            ticket,
            flags,
            status,
            text_file,
            no_redact,
            preview,
            again,
            time,
            json,
            store,
        } => {
            let id = replica.resolve_session(&session)?;
            let flags = flags
                .iter()
                .map(|flag| {
                    rf_core::psa::NoteFlag::parse(flag).ok_or_else(|| {
                        ReplicaError::Invalid(format!(
                            "unknown flag {flag:?}; use internal, discussion or resolution"
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let (text, redacted) = match &text_file {
                Some(path) => (
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                    false,
                ),
                None => {
                    let record = replica.session(id)?;
                    let redact = !no_redact;
                    let exported =
                        export(&record.state, ExportFormat::Text, ExportOptions { redact });
                    (exported.text, redact)
                }
            };
            if preview {
                write!(out, "{text}")?;
                return Ok(ExitCode::SUCCESS);
            }
            let queued = replica
                .queue_post(rf_replica::posts::NewPost {
                    session_id: id,
                    ticket_id: ticket,
                    flags,
                    status,
                    text,
                    redacted,
                    again,
                    time: time.then(|| session_time(replica, id)).transpose()?,
                })
                .map_err(|error| match error {
                    ReplicaError::AlreadyPosted(why) => {
                        ReplicaError::Invalid(format!("{why}; add --again to post it once more"))
                    }
                    other => other,
                })?;
            let post = match replica.sync_account()? {
                Some(_) => {
                    let tokens = token_store(replica, store.kind)?;
                    match rf_replica::posts::deliver_posts(replica, tokens.as_ref(), sync_options())
                    {
                        Ok(_) | Err(ReplicaError::LoginRequired(_)) => {}
                        Err(error) => return Err(error.into()),
                    }
                    replica.ticket_post(queued.key)?.unwrap_or(queued)
                }
                None => queued,
            };
            if json {
                write_json(out, &post)?;
            } else {
                render::ticket_post(out, &post)?;
            }
            return Ok(if post.state == rf_replica::posts::PostState::Failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        SessionCommandArgs::Posts { session, json } => {
            let id = session
                .as_deref()
                .map(|session| replica.resolve_session(session))
                .transpose()?;
            let posts = replica.ticket_posts(id)?;
            if json {
                write_json(out, &posts)?;
            } else if posts.is_empty() {
                writeln!(out, "no notes posted or queued for tickets")?;
            } else {
                for post in &posts {
                    render::ticket_post(out, post)?;
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Attach { session, file } => {
            let id = replica.resolve_session(&session)?;
            let (_, attachment) = replica.attach_file(id, &file)?;
            writeln!(
                out,
                "attached {} ({} bytes, sha256 {})",
                attachment.name, attachment.size, attachment.sha256
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        SessionCommandArgs::Answer {
            session,
            choice,
            note,
        } => {
            let mut commands = Vec::new();
            if let Some(note) = note {
                commands.push(SessionCommand::Note { text: note });
            }
            commands.push(SessionCommand::Answer {
                choice: Choice::parse(&choice),
            });
            (session, commands)
        }
        SessionCommandArgs::Note { session, text } => {
            (session, vec![SessionCommand::Note { text }])
        }
        SessionCommandArgs::Output { session, text } => (
            session,
            vec![SessionCommand::PasteOutput {
                text: read_text_argument(text)?,
            }],
        ),
        SessionCommandArgs::Back { session } => (session, vec![SessionCommand::Back]),
        SessionCommandArgs::CustomStep {
            session,
            title,
            note,
        } => {
            let mut commands = vec![SessionCommand::CustomStep { title }];
            if let Some(note) = note {
                commands.push(SessionCommand::Note { text: note });
            }
            (session, commands)
        }
        SessionCommandArgs::Tick {
            session,
            step,
            value,
        } => (session, vec![SessionCommand::Tick { node: step, value }]),
        SessionCommandArgs::Finish {
            session,
            outcome,
            summary,
            next_steps,
        } => {
            let outcome = Outcome::parse(&outcome).ok_or_else(|| {
                ReplicaError::Invalid(format!(
                    "unknown outcome {outcome:?}; use resolved, workaround, escalated or unresolved"
                ))
            })?;
            (
                session,
                vec![SessionCommand::Finish {
                    outcome,
                    summary,
                    next_steps,
                }],
            )
        }
    };
    let id = replica.resolve_session(&id)?;
    // A note the app saved as a draft at this step goes in first, as it would in the app.
    let view = replica.act(id, commands)?;
    if view.state.is_finished() {
        writeln!(
            out,
            "Session finished: {}. Export the ticket note with: rf session export {} --format md",
            view.state.outcome.map(Outcome::as_str).unwrap_or("?"),
            &id.to_string()[..8]
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    render::step(out, &view)?;
    Ok(ExitCode::SUCCESS)
}
