//! Human-readable output and the documented `--json` shapes of the CLI.

use std::io::{self, Write};

use rf_core::flow::{Flow, NodeKind};
use rf_core::psa::{MappedMember, PsaConnectionView, TicketSummary};
use rf_core::session::{PathEntry, SessionState, StepView};
use rf_core::stats::FlowStats;
use rf_replica::posts::{PostState, TicketPost};
use rf_replica::{FlowSummary, SessionSummary, SessionView, StoredFlow};
use serde::Serialize;
use uuid::Uuid;

/// An id's first 13 characters: ids are UUID v7, whose first 12 hex digits are the
/// millisecond they were made, so shorter prefixes of things made within a minute clash.
pub fn short(id: Uuid) -> String {
    id.to_string()[..13].to_owned()
}

pub fn flow_table(out: &mut impl Write, flows: &[FlowSummary]) -> io::Result<()> {
    if flows.is_empty() {
        return writeln!(
            out,
            "no flows; import some with: rf flow import samples/flows"
        );
    }
    for flow in flows {
        writeln!(
            out,
            "{}\t{}\t{:<15}\tv{}\t{} nodes{}",
            flow.id,
            flow.title,
            flow.kind.as_str(),
            flow.version,
            flow.node_count,
            if flow.pinned { "\tpinned" } else { "" }
        )?;
    }
    Ok(())
}

pub fn flow_details(out: &mut impl Write, stored: &StoredFlow) -> io::Result<()> {
    let flow = &stored.document;
    writeln!(out, "{}", flow.title)?;
    writeln!(
        out,
        "id {} · {} · version {} · {} nodes",
        stored.summary.id,
        flow.kind,
        stored.summary.version,
        flow.nodes.len()
    )?;
    if let Some(category) = &flow.category {
        writeln!(out, "category: {category}")?;
    }
    if !flow.tags.is_empty() {
        writeln!(out, "tags: {}", flow.tags.join(", "))?;
    }
    if let Some(description) = &flow.description {
        writeln!(out, "\n{description}")?;
    }
    if !flow.intake.is_empty() {
        writeln!(out, "\nAsks at start:")?;
        for field in &flow.intake {
            writeln!(
                out,
                "  --var {}=…\t{}{}",
                field.name,
                field.label,
                if field.required && field.default.is_none() {
                    " (required)"
                } else {
                    ""
                }
            )?;
        }
    }
    writeln!(out, "\nNodes:")?;
    for node in &flow.nodes {
        let target = match node.kind {
            NodeKind::Question => node
                .answers()
                .iter()
                .map(|answer| format!("{} → {}", answer.label, answer.next))
                .collect::<Vec<_>>()
                .join("; "),
            NodeKind::Resolution => node
                .outcome
                .map(|outcome| outcome.to_string())
                .unwrap_or_default(),
            NodeKind::Subflow => format!(
                "runs {} → {}",
                node.flow.as_deref().unwrap_or("?"),
                node.next.as_deref().unwrap_or("(next item)")
            ),
            _ => node
                .next
                .as_deref()
                .map(|next| format!("→ {next}"))
                .unwrap_or_default(),
        };
        writeln!(
            out,
            "  {:<24} {:<10} {}  {}",
            node.id,
            node.kind.as_str(),
            node.title,
            target
        )?;
    }
    Ok(())
}

pub fn flow_stats(out: &mut impl Write, flow: &Flow, stats: &FlowStats) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} finished session(s), {} resolved",
        flow.title, stats.sessions, stats.resolved
    )?;
    for node in &flow.nodes {
        let Some(node_stats) = stats.nodes.get(&node.id) else {
            continue;
        };
        writeln!(
            out,
            "  {} — reached by {} session(s)",
            node.title, node_stats.reached
        )?;
        for answer in node.answers() {
            if let Some(share) = node_stats.shares(&answer.label) {
                writeln!(out, "      {}: {share}", answer.label)?;
            }
        }
    }
    Ok(())
}

/// Prints the step in front of the engineer, with what to type next.
pub fn step(out: &mut impl Write, session: &SessionView) -> anyhow::Result<()> {
    let state = &session.state;
    let Some(view) = &session.current else {
        if let Some(problem) = &session.problem {
            return Err(anyhow::anyhow!("{problem}"));
        }
        return Ok(());
    };
    let stats = session.stats.as_ref();
    let sid = short(session.id);
    writeln!(
        out,
        "── {} · ticket {} · {}{}",
        view.flow_title,
        state.ticket,
        state.client,
        if view.depth > 0 {
            format!(" · subflow (depth {})", view.depth)
        } else {
            String::new()
        }
    )?;
    if let Some((done, total)) = view.progress {
        writeln!(out, "Checklist: {done} of {total} done")?;
    }
    let Some(node) = &view.node else {
        match view.progress {
            Some((done, total)) if done < total => writeln!(
                out,
                "\nEnd of the checklist. {} item(s) were skipped by a branch or left open; tick them by id if they apply.",
                total - done
            )?,
            _ => writeln!(out, "\nEvery step is done.")?,
        }
        if view.choices.is_empty() {
            writeln!(
                out,
                "Finish with: rf session finish {sid} --outcome resolved --summary \"…\""
            )?;
        } else {
            writeln!(
                out,
                "Return to the calling flow with: rf session answer {sid} 1"
            )?;
        }
        return Ok(());
    };
    writeln!(
        out,
        "\n[{}] {}  ({})",
        node.kind.as_str(),
        node.title,
        node.id
    )?;
    if let Some(body) = &node.body {
        writeln!(out, "\n{}", body.trim_end())?;
    }
    if !node.commands.is_empty() {
        writeln!(out, "\nCommands:")?;
        for command in &node.commands {
            writeln!(out, "  {} [{}]", command.label, command.language)?;
            for line in command.code.lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    if let Some(expected) = &node.expected {
        writeln!(out, "\nExpected: {expected}")?;
    }
    if let Some(warning) = &node.warning {
        writeln!(out, "\nWarning: {warning}")?;
    }
    for link in &node.links {
        writeln!(out, "Link: {} <{}>", link.title, link.url)?;
    }
    if let Some(verify) = &node.verify {
        writeln!(out, "\nRecord: {}", verify.prompt)?;
    }
    choices(out, view, stats)?;
    if node.kind == NodeKind::Resolution && view.choices.is_empty() {
        let outcome = node.outcome.map_or("resolved", |outcome| outcome.as_str());
        writeln!(
            out,
            "\nSuggested outcome: {outcome}. Finish with: rf session finish {sid} --outcome {outcome} --summary \"…\""
        )?;
    } else if node.kind == NodeKind::Step && view.choices.is_empty() {
        writeln!(
            out,
            "\nRecord it with: rf session tick {sid} {} --value \"…\"",
            node.id
        )?;
    } else if node.kind == NodeKind::Step && node.answers().is_empty() {
        writeln!(
            out,
            "\nAnswer with: rf session answer {sid} done   (or tick any step by id: rf session tick {sid} <step id>)"
        )?;
    } else {
        writeln!(
            out,
            "\nAnswer with: rf session answer {sid} <number or label>"
        )?;
    }
    Ok(())
}

fn choices(out: &mut impl Write, view: &StepView, stats: Option<&FlowStats>) -> io::Result<()> {
    if view.choices.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let node_stats = view.node.as_ref().and_then(|node| {
        stats
            .filter(|stats| stats.flow_id == view.flow.flow_id)?
            .nodes
            .get(&node.id)
    });
    for (index, label) in view.choices.iter().enumerate() {
        match node_stats.and_then(|stats| stats.shares(label)) {
            Some(share) => writeln!(out, "  {}) {label}    — {share}", index + 1)?,
            None => writeln!(out, "  {}) {label}", index + 1)?,
        }
    }
    Ok(())
}

pub fn session_table(out: &mut impl Write, sessions: &[SessionSummary]) -> io::Result<()> {
    if sessions.is_empty() {
        return writeln!(
            out,
            "no sessions yet; start one with: rf session start FLOW --ticket T --client C"
        );
    }
    for session in sessions {
        let fork = session
            .forked_from
            .map(|shared| {
                format!(
                    "\t(another copy of this laptop also went on with session {}; this is this copy's part)",
                    &shared.to_string()[..8]
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}{fork}",
            session.id,
            session.started_at,
            session.ticket,
            session.client,
            session.flow_title,
            session.outcome.as_deref().unwrap_or(&session.status)
        )?;
    }
    Ok(())
}

pub fn session_details(out: &mut impl Write, session: &SessionView) -> io::Result<()> {
    let state = &session.state;
    writeln!(out, "Session {}", session.id)?;
    writeln!(
        out,
        "Flow:     {} (v{})",
        state.flow_title, state.flow.version
    )?;
    writeln!(
        out,
        "Ticket:   {}    Client: {}    Engineer: {}",
        state.ticket, state.client, state.engineer
    )?;
    writeln!(
        out,
        "Status:   {}{}",
        state.status.as_str(),
        state
            .outcome
            .map(|outcome| format!(" ({outcome})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "Path:")?;
    for entry in &state.path {
        writeln!(out, "  {}{}", "  ".repeat(entry.depth), path_line(entry))?;
    }
    writeln!(out)?;
    Ok(())
}

fn path_line(entry: &PathEntry) -> String {
    use rf_core::session::EntryKind;
    let prefix = match entry.kind {
        EntryKind::Step => "",
        EntryKind::Tick => "✓ ",
        EntryKind::Custom => "+ custom: ",
        EntryKind::SubflowEntered => "↳ subflow: ",
        EntryKind::SubflowLeft => "↰ back from: ",
        EntryKind::WentBack => "↩ back to: ",
        EntryKind::HandedOff => "⇒ handed to: ",
    };
    let mut line = format!("{prefix}{}", entry.title);
    if let Some(answer) = &entry.answer {
        line.push_str(&format!(" → {answer}"));
    }
    if let Some(value) = &entry.value {
        line.push_str(&format!(" = {value}"));
    }
    let extras = entry.notes.len() + entry.outputs.len() + entry.attachments.len();
    if extras > 0 {
        line.push_str(&format!(" [{extras} note(s)/output(s)/attachment(s)]"));
    }
    line
}

/// `rf session show --json`: documented in docs/CLI.md; fields are only ever added.
#[derive(Debug, Serialize)]
pub struct SessionJson<'a> {
    pub id: Uuid,
    #[serde(flatten)]
    pub state: &'a SessionState,
    pub current: Option<&'a StepView>,
}

impl<'a> SessionJson<'a> {
    pub fn new(session: &'a SessionView) -> SessionJson<'a> {
        SessionJson {
            id: session.id,
            state: &session.state,
            current: session.current.as_ref(),
        }
    }
}

/// The team's ConnectWise connection, as `rf psa connect` and `rf psa show` print it.
pub fn psa_connection(out: &mut impl Write, view: &PsaConnectionView) -> io::Result<()> {
    writeln!(out, "ConnectWise: {}", view.api_url)?;
    writeln!(out, "company: {}", view.company_id)?;
    writeln!(out, "public key: {}", view.public_key_hint)?;
    writeln!(
        out,
        "client id: {}",
        view.client_id.as_deref().unwrap_or("the server's")
    )?;
    writeln!(out, "stored: {}", view.updated_at)?;
    if let Some(checked) = &view.checked {
        writeln!(
            out,
            "checked: ConnectWise{} accepted these keys",
            checked
                .version
                .as_deref()
                .map(|version| format!(" (version {version})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// One ticket, as `rf psa ticket` prints it.
pub fn ticket(out: &mut impl Write, ticket: &TicketSummary) -> io::Result<()> {
    writeln!(out, "#{} {}", ticket.id, ticket.summary)?;
    let company = ticket.company.as_ref().and_then(|company| {
        match (company.name.as_deref(), company.identifier.as_deref()) {
            (Some(name), Some(identifier)) => Some(format!("{name} ({identifier})")),
            (Some(name), None) => Some(name.to_owned()),
            (None, Some(identifier)) => Some(identifier.to_owned()),
            (None, None) => None,
        }
    });
    let contact = match (ticket.contact.as_deref(), ticket.contact_email.as_deref()) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(name), None) => Some(name.to_owned()),
        (None, email) => email.map(str::to_owned),
    };
    for (label, value) in [
        ("company", company),
        ("contact", contact),
        ("board", ticket.board.clone()),
        ("status", ticket.status.clone()),
        ("priority", ticket.priority.clone()),
    ] {
        writeln!(out, "{label}: {}", value.as_deref().unwrap_or("-"))?;
    }
    if ticket.closed {
        writeln!(out, "closed")?;
    }
    Ok(())
}

/// ConnectWise's members with the team accounts they map to, as a table.
pub fn members(out: &mut impl Write, members: &[MappedMember]) -> io::Result<()> {
    if members.is_empty() {
        return writeln!(out, "ConnectWise lists no active members");
    }
    writeln!(
        out,
        "{:<20} {:<28} {:<32} TEAM ACCOUNT",
        "MEMBER", "NAME", "E-MAIL"
    )?;
    for mapped in members {
        writeln!(
            out,
            "{:<20} {:<28} {:<32} {}",
            mapped.member.identifier,
            mapped.member.name,
            mapped.member.email.as_deref().unwrap_or("-"),
            mapped
                .user_email
                .as_deref()
                .unwrap_or("(no account with this e-mail)")
        )?;
    }
    Ok(())
}

/// One post to a ticket and where it stands.
pub fn ticket_post(out: &mut impl Write, post: &TicketPost) -> io::Result<()> {
    let flags = post
        .flags
        .iter()
        .map(|flag| flag.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match post.state {
        PostState::Posted => {
            writeln!(
                out,
                "posted to ticket #{} at {} (note {}, {flags})",
                post.ticket_id,
                post.posted_at.as_deref().unwrap_or("?"),
                post.note_id.unwrap_or_default()
            )?;
            if let Some(status) = &post.status_set {
                writeln!(out, "status set to {status}")?;
            }
            if let Some(entry) = post.time_entry_id {
                writeln!(out, "time entry {entry} recorded")?;
            }
            if let Some(error) = &post.error {
                writeln!(out, "{error}; the note itself is on the ticket")?;
            }
        }
        PostState::Queued => {
            writeln!(
                out,
                "queued for ticket #{} ({flags}): it is posted once, by the next rf sync that reaches the sync server",
                post.ticket_id
            )?;
            if let Some(error) = &post.error {
                writeln!(out, "last attempt: {error}")?;
            }
        }
        PostState::Failed => {
            writeln!(
                out,
                "not posted to ticket #{}: {}",
                post.ticket_id,
                post.error.as_deref().unwrap_or("refused")
            )?;
        }
    }
    Ok(())
}

/// What ends a FlowPilot answer in the terminal: the model, the tokens, what was masked.
pub fn pilot_footer(out: &mut impl Write, done: &rf_core::ai::PilotDone) -> io::Result<()> {
    writeln!(
        out,
        "\n(FlowPilot, {}: {} tokens in, {} out; {} value(s) masked before the session left the sync server)",
        done.model,
        done.usage.input_tokens
            + done.usage.cache_creation_input_tokens
            + done.usage.cache_read_input_tokens,
        done.usage.output_tokens,
        done.redactions
    )
}
