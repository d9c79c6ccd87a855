//! `rf batch`, `rf targets`, `rf schedule` and `rf due`: maintenance work over many targets.
//! Thin like the rest of `rf`: every decision is in rf-core (batch state, due dates) or
//! rf-replica (what is stored and synced).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rf_core::batch::{TargetStatus, parse_date, targets_from_lines};
use rf_core::export::{ExportFormat, human_duration};
use rf_replica::work::{NewBatch, NewSchedule, Targets};
use rf_replica::{BatchSummary, BatchView, DueWork, ScheduleView, TargetListView};
use rf_replica::{Replica, ReplicaError};

use crate::args::{BatchCommand, ScheduleCommand, TargetsArg, TargetsCommand};
use crate::render::short;
use crate::{parse_variables, write_json, write_output};

fn read_targets_file(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the targets file {}", path.display()))?;
    Ok(targets_from_lines(&text))
}

fn targets_of(arg: TargetsArg, client: &str) -> anyhow::Result<Option<Targets>> {
    Ok(match (arg.targets_file, arg.target_list) {
        (Some(path), _) => Some(Targets::Given(read_targets_file(&path)?)),
        (None, Some(name)) => Some(Targets::List {
            name,
            client: Some(client.to_owned()).filter(|client| !client.trim().is_empty()),
        }),
        (None, None) if !arg.targets.is_empty() => Some(Targets::Given(arg.targets)),
        (None, None) => None,
    })
}

fn date_arg(text: &str) -> anyhow::Result<time::Date> {
    Ok(parse_date(text).map_err(ReplicaError::Invalid)?)
}

pub fn run_batch(
    replica: &mut Replica,
    command: BatchCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        BatchCommand::Start {
            flow,
            targets,
            ticket,
            client,
            vars,
            schedule,
            occurrence,
            engineer,
        } => {
            let flow_id = replica.resolve_flow(&flow)?;
            let engineer = replica.engineer(engineer)?;
            let variables = parse_variables(&vars)?;
            let targets = targets_of(targets, &client)?;
            let (id, batch) = match schedule {
                Some(schedule) => {
                    let (_, found) = replica.schedule(&schedule)?;
                    if found.flow_id != flow_id {
                        return Err(ReplicaError::Invalid(format!(
                            "the schedule runs {:?}, not this flow",
                            found.flow_title
                        ))
                        .into());
                    }
                    let occurrence = occurrence.as_deref().map(date_arg).transpose()?;
                    replica.start_due(
                        &schedule, occurrence, targets, &ticket, variables, &engineer,
                    )?
                }
                None => {
                    let targets = targets.ok_or_else(|| {
                        ReplicaError::Invalid(
                            "give the targets: --targets a,b,c, --targets-file FILE or --target-list NAME".into(),
                        )
                    })?;
                    replica.start_batch(NewBatch {
                        flow_id,
                        targets,
                        ticket,
                        client,
                        variables,
                        scheduled: None,
                        engineer,
                    })?
                }
            };
            writeln!(
                out,
                "started a batch of {:?} over {} target{}{}",
                batch.flow_title,
                batch.targets.len(),
                if batch.targets.len() == 1 { "" } else { "s" },
                if batch.client.is_empty() {
                    String::new()
                } else {
                    format!(" for {}", batch.client)
                }
            )?;
            writeln!(
                out,
                "start a target with: rf batch run {} TARGET",
                short(id)
            )?;
            writeln!(out, "{id}")?;
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Run {
            batch,
            target,
            engineer,
        } => {
            let engineer = replica.engineer(engineer)?;
            let run = replica.run_target(&batch, &target, &engineer)?;
            let id = run.session.id;
            let target = run
                .session
                .state
                .batch
                .as_ref()
                .map(|link| link.target.clone())
                .unwrap_or(target);
            if run.session.state.is_finished() {
                writeln!(out, "{target}: finished; `rf session show` shows it")?;
            } else {
                writeln!(
                    out,
                    "{target}: {}",
                    if run.started { "started" } else { "resumed" }
                )?;
                crate::render::step(out, &replica.session_view(id)?)?;
            }
            writeln!(out, "{id}")?;
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::List { json } => {
            let batches = replica.batches()?;
            if json {
                write_json(out, &batches)?;
            } else {
                batch_table(out, &batches)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Show { batch, json } => {
            let view = replica.batch_view(&batch)?;
            if json {
                write_json(out, &view)?;
            } else {
                batch_details(out, &view)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        BatchCommand::Export {
            batch,
            format,
            redact,
            output,
        } => {
            let format = ExportFormat::parse(&format).ok_or_else(|| {
                ReplicaError::Invalid(format!("unknown format {format:?}; use md, txt or html"))
            })?;
            let text = replica.batch_note(&batch, format, redact)?;
            write_output(out, output.as_deref(), &text)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_targets(
    replica: &mut Replica,
    command: TargetsCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        TargetsCommand::Set {
            name,
            client,
            targets,
            file,
        } => {
            let targets = match file {
                Some(path) => read_targets_file(&path)?,
                None => targets,
            };
            let list = replica.set_target_list(&client, &name, targets)?;
            writeln!(
                out,
                "saved {:?} for {} ({} target{})",
                list.name,
                list.client,
                list.targets.len(),
                if list.targets.len() == 1 { "" } else { "s" }
            )?;
            Ok(ExitCode::SUCCESS)
        }
        TargetsCommand::List { json } => {
            let lists = replica.target_lists()?;
            if json {
                write_json(out, &lists)?;
            } else {
                target_lists(out, &lists)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_schedule(
    replica: &mut Replica,
    command: ScheduleCommand,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        ScheduleCommand::Add {
            flow,
            client,
            rule,
            tz,
            start,
            target_list,
            engineer,
        } => {
            let flow_id = replica.resolve_flow(&flow)?;
            let engineer = replica.engineer(engineer)?;
            let zone = match tz {
                Some(zone) => zone,
                None => rf_replica::environment::local_time_zone()?,
            };
            let start = start.as_deref().map(date_arg).transpose()?;
            let view = replica.add_schedule(NewSchedule {
                flow_id,
                client,
                rule,
                time_zone: zone,
                first_day: start,
                target_list,
                engineer,
            })?;
            schedules(out, std::slice::from_ref(&view))?;
            writeln!(out, "{}", view.id)?;
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::List { json } => {
            let views = replica.schedules()?;
            if json {
                write_json(out, &views)?;
            } else {
                schedules(out, &views)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ScheduleCommand::Remove { schedule } => {
            let (_, found) = replica.schedule(&schedule)?;
            replica.remove_schedule(&schedule)?;
            writeln!(
                out,
                "removed the schedule of {:?} for {}; its batches stay",
                found.flow_title, found.client
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn run_due(replica: &Replica, json: bool, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let work = replica.due_work_now()?;
    if json {
        write_json(out, &work)?;
    } else {
        due(out, &work)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn batch_table(out: &mut impl Write, batches: &[BatchSummary]) -> io::Result<()> {
    if batches.is_empty() {
        return writeln!(
            out,
            "no batches yet; start one with rf batch start FLOW --targets a,b,c"
        );
    }
    writeln!(
        out,
        "{:<14} {:<32} {:<18} {:<12} PROGRESS",
        "BATCH", "FLOW", "CLIENT", "TICKET"
    )?;
    for batch in batches {
        writeln!(
            out,
            "{:<14} {:<32} {:<18} {:<12} {}{}",
            short(batch.id),
            clip(&batch.flow_title, 32),
            clip(&batch.client, 18),
            clip(&batch.ticket, 12),
            batch.headline,
            if batch.complete { " (complete)" } else { "" }
        )?;
    }
    Ok(())
}

fn batch_details(out: &mut impl Write, view: &BatchView) -> io::Result<()> {
    let batch = &view.batch;
    writeln!(
        out,
        "{} (version {}), batch {}",
        batch.flow_title,
        batch.flow.version.short(),
        view.id
    )?;
    let mut facts = Vec::new();
    if !batch.client.is_empty() {
        facts.push(format!("client {}", batch.client));
    }
    if !batch.ticket.is_empty() {
        facts.push(format!("ticket {}", batch.ticket));
    }
    if let Some(list) = &batch.target_list {
        facts.push(format!("target list {list:?}"));
    }
    if let Some(run) = &batch.scheduled {
        facts.push(format!(
            "scheduled run of {}",
            rf_core::batch::format_date(run.occurrence)
        ));
    }
    facts.push(format!("started by {}", batch.started_by));
    writeln!(out, "{}", facts.join(", "))?;
    let progress = &view.progress;
    writeln!(
        out,
        "{}{}; {} spent",
        progress.headline(),
        if progress.is_complete() {
            " (complete)"
        } else {
            ""
        },
        human_duration(time::Duration::seconds(progress.seconds))
    )?;
    if !view.has_flow {
        writeln!(
            out,
            "this device does not hold the flow version yet; sync before starting a target"
        )?;
    }
    writeln!(out)?;
    let width = progress
        .targets
        .iter()
        .map(|target| target.target.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 40);
    writeln!(
        out,
        "  {:<width$}  {:<28} {:<24} SESSION",
        "TARGET", "STATE", "ENGINEER"
    )?;
    for target in &progress.targets {
        let state = match (target.status, target.outcome, target.session()) {
            (TargetStatus::Finished, Some(outcome), _) => format!("finished: {outcome}"),
            (TargetStatus::InProgress, _, Some(session)) if session.total > 0 => {
                format!("in progress, {} of {} done", session.done, session.total)
            }
            (status, _, _) => status.label().to_owned(),
        };
        if target.sessions.is_empty() {
            writeln!(out, "  {:<width$}  {state}", clip(&target.target, width))?;
        }
        for (index, session) in target.sessions.iter().enumerate() {
            let mine = if view.own_sessions.contains(&session.session_id) {
                " (this device)"
            } else {
                ""
            };
            writeln!(
                out,
                "  {:<width$}  {:<28} {:<24} {}{mine}",
                if index == 0 {
                    clip(&target.target, width)
                } else {
                    String::new()
                },
                if index == 0 { state.as_str() } else { "" },
                clip(&session.engineer, 24),
                short(session.session_id),
            )?;
        }
    }
    for stray in &progress.strays {
        writeln!(
            out,
            "  a session names target {:?}, which this batch does not have: {} by {}",
            stray.target,
            short(stray.session_id),
            stray.engineer
        )?;
    }
    Ok(())
}

fn target_lists(out: &mut impl Write, lists: &[TargetListView]) -> io::Result<()> {
    if lists.is_empty() {
        return writeln!(
            out,
            "no target lists yet; save one with rf targets set NAME --client C a b c"
        );
    }
    for list in lists {
        writeln!(
            out,
            "{} / {} ({}): {}",
            list.client,
            list.name,
            list.targets.len(),
            preview(&list.targets)
        )?;
    }
    Ok(())
}

fn schedules(out: &mut impl Write, views: &[ScheduleView]) -> io::Result<()> {
    if views.is_empty() {
        return writeln!(
            out,
            "no schedules yet; add one with rf schedule add FLOW --client C --rule FREQ=MONTHLY;BYDAY=2TU"
        );
    }
    for view in views {
        let schedule = &view.schedule;
        writeln!(
            out,
            "{}  {} for {}: {} ({}), from {}{}",
            short(view.id),
            schedule.flow_title,
            schedule.client,
            schedule.rule,
            schedule.time_zone,
            rf_core::batch::format_date(schedule.first_day),
            schedule
                .target_list
                .as_ref()
                .map(|list| format!(", targets {list:?}"))
                .unwrap_or_default()
        )?;
        if view.next.is_empty() {
            writeln!(out, "          no further runs")?;
        } else {
            writeln!(out, "          next: {}", view.next.join(", "))?;
        }
    }
    Ok(())
}

fn due(out: &mut impl Write, work: &DueWork) -> io::Result<()> {
    if work.items.is_empty() && work.unreadable.is_empty() {
        writeln!(out, "nothing due this week")?;
    }
    for item in &work.items {
        writeln!(
            out,
            "{:<10} {}  {} for {}{}  (schedule {})",
            item.state.label(),
            item.occurrence,
            item.flow_title,
            item.client,
            item.target_list
                .as_ref()
                .map(|list| format!(", targets {list:?}"))
                .unwrap_or_default(),
            short(item.schedule_id)
        )?;
    }
    if work.more_overdue > 0 {
        writeln!(
            out,
            "and {} older overdue run{} not listed",
            work.more_overdue,
            if work.more_overdue == 1 { "" } else { "s" }
        )?;
    }
    for reason in &work.unreadable {
        writeln!(out, "cannot read a schedule: {reason}")?;
    }
    if work
        .items
        .iter()
        .any(|item| item.state != rf_core::schedule::DueState::Upcoming)
    {
        writeln!(
            out,
            "start one with: rf batch start FLOW --schedule SCHEDULE [--occurrence DATE]"
        )?;
    }
    Ok(())
}

fn preview(targets: &[String]) -> String {
    let shown: Vec<&str> = targets.iter().take(6).map(String::as_str).collect();
    let mut text = shown.join(", ");
    if targets.len() > shown.len() {
        text.push_str(&format!(", … {} more", targets.len() - shown.len()));
    }
    text
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}
