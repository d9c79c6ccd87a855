//! Ticket notes: a session rendered as Markdown, plain text or HTML, optionally redacted first.
//!
//! [`TicketNote::build`] gathers the note's content from the session state and runs redaction
//! over every text that came from a person or a flow; the three renderers then only lay it out.
//! The HTML renderer escapes every piece of text it writes, so nothing in a flow, a note or a
//! pasted output can add markup or script to the document.

use std::fmt::Write as _;

use pulldown_cmark_escape::{FmtWriter, escape_html};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::redact::{RedactionCounts, Redactor};
use crate::session::{EntryKind, PathEntry, SessionState, SessionStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Markdown,
    Text,
    Html,
}

impl ExportFormat {
    /// Accepts the CLI spellings `md`, `txt`, `html` and the long names.
    pub fn parse(text: &str) -> Option<ExportFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(ExportFormat::Markdown),
            "txt" | "text" | "plain" => Some(ExportFormat::Text),
            "html" | "htm" => Some(ExportFormat::Html),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Markdown => "md",
            ExportFormat::Text => "txt",
            ExportFormat::Html => "html",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// Mask secrets, addresses and paths before the note is written.
    pub redact: bool,
}

/// One line of the note's path section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteStep {
    pub kind: EntryKind,
    pub time: String,
    pub depth: usize,
    pub title: String,
    pub answer: Option<String>,
    pub value: Option<String>,
    pub notes: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    pub attachments: Vec<String>,
}

/// The content of a ticket note, already redacted when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketNote {
    pub flow_title: String,
    /// The short form of the flow version's id (see `VersionId::short`).
    pub flow_version: String,
    pub ticket: String,
    pub client: String,
    pub engineer: String,
    pub started: String,
    pub duration: String,
    pub outcome: String,
    pub steps: Vec<NoteStep>,
    pub summary: Option<String>,
    pub next_steps: Option<String>,
    /// `Some` when redaction ran (even if it masked nothing), so the note can say so.
    pub redactions: Option<RedactionCounts>,
}

/// A rendered note and what redaction masked in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub text: String,
    pub redactions: Option<RedactionCounts>,
}

/// Builds and renders a session's ticket note in one call.
pub fn export(state: &SessionState, format: ExportFormat, options: ExportOptions) -> Export {
    let note = TicketNote::build(state, options);
    Export {
        text: note.render(format),
        redactions: note.redactions.clone(),
    }
}

fn clock(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!("[hour]:[minute]"))
        .unwrap_or_default()
}

fn date_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let text = utc
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_default();
    format!("{text} UTC")
}

/// "1 h 05 min", "7 min", "45 s": how long the work took, for a person.
pub fn human_duration(duration: time::Duration) -> String {
    let seconds = duration.whole_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        _ => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

impl TicketNote {
    pub fn build(state: &SessionState, options: ExportOptions) -> TicketNote {
        let mut redactor = options.redact.then(Redactor::new);
        let mut clean = |text: &str| match redactor.as_mut() {
            Some(redactor) => redactor.redact(text),
            None => text.to_owned(),
        };
        let outcome = match (state.status, state.outcome) {
            (SessionStatus::Finished, Some(outcome)) => outcome.as_str().to_owned(),
            _ => "in progress".to_owned(),
        };
        let steps = state
            .path
            .iter()
            .map(|entry: &PathEntry| NoteStep {
                kind: entry.kind,
                time: clock(entry.at),
                depth: entry.depth,
                title: clean(&entry.title),
                answer: entry.answer.as_deref().map(&mut clean),
                value: entry.value.as_deref().map(&mut clean),
                notes: entry
                    .notes
                    .iter()
                    .map(|note| (clock(note.at), clean(&note.text)))
                    .collect(),
                outputs: entry
                    .outputs
                    .iter()
                    .map(|output| (clock(output.at), clean(&output.text)))
                    .collect(),
                attachments: entry
                    .attachments
                    .iter()
                    .map(|attachment| {
                        format!(
                            "{} ({}, sha256 {})",
                            clean(&attachment.name),
                            human_size(attachment.size),
                            attachment.sha256.get(..12).unwrap_or(&attachment.sha256)
                        )
                    })
                    .collect(),
            })
            .collect();
        let flow_title = clean(&state.flow_title);
        let summary = state.summary.as_deref().map(&mut clean);
        let next_steps = state.next_steps.as_deref().map(&mut clean);
        TicketNote {
            flow_title,
            flow_version: state.flow.version.short(),
            ticket: state.ticket.clone(),
            client: state.client.clone(),
            engineer: state.engineer.clone(),
            started: date_time(state.started_at),
            duration: human_duration(state.duration()),
            outcome,
            steps,
            summary,
            next_steps,
            redactions: redactor.map(Redactor::into_counts),
        }
    }

    pub fn render(&self, format: ExportFormat) -> String {
        match format {
            ExportFormat::Markdown => self.to_markdown(),
            ExportFormat::Text => self.to_text(),
            ExportFormat::Html => self.to_html(),
        }
    }

    fn header_rows(&self) -> [(&'static str, String); 7] {
        [
            (
                "Flow",
                format!("{} (version {})", self.flow_title, self.flow_version),
            ),
            ("Ticket", self.ticket.clone()),
            ("Client", self.client.clone()),
            ("Engineer", self.engineer.clone()),
            ("Started", self.started.clone()),
            ("Duration", self.duration.clone()),
            ("Outcome", self.outcome.clone()),
        ]
    }

    fn redaction_line(&self) -> Option<String> {
        self.redactions
            .as_ref()
            .map(|counts| format!("Redacted before export: {counts}."))
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## {}", markdown_inline(&self.flow_title));
        out.push('\n');
        for (label, value) in self.header_rows().iter().skip(1) {
            let _ = writeln!(out, "- **{label}:** {}", markdown_inline(value));
        }
        let _ = writeln!(out, "- **Flow version:** {}", self.flow_version);
        out.push_str("\n### Steps taken\n\n");
        if self.steps.is_empty() {
            out.push_str("_No steps recorded._\n");
        }
        for step in &self.steps {
            let indent = "  ".repeat(step.depth);
            let _ = writeln!(out, "{indent}- {} {}", step.time, markdown_step_line(step));
            let inner = format!("{indent}  ");
            for (time, note) in &step.notes {
                let _ = writeln!(out, "{inner}- Note ({time}):");
                for line in note.lines() {
                    let _ = writeln!(out, "{inner}  > {}", markdown_inline(line));
                }
            }
            for (time, output) in &step.outputs {
                let fence = code_fence(output);
                let _ = writeln!(out, "{inner}- Output ({time}):");
                let _ = writeln!(out, "{inner}  {fence}");
                for line in output.lines() {
                    let _ = writeln!(out, "{inner}  {line}");
                }
                let _ = writeln!(out, "{inner}  {fence}");
            }
            for attachment in &step.attachments {
                let _ = writeln!(out, "{inner}- Attachment: {}", markdown_inline(attachment));
            }
        }
        for (heading, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = write!(out, "\n### {heading}\n\n");
                // Two trailing spaces keep the engineer's line breaks in rendered Markdown.
                let lines: Vec<String> = text.trim_end().lines().map(markdown_inline).collect();
                let _ = writeln!(out, "{}", lines.join("  \n"));
            }
        }
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n_{line}_\n");
        }
        out
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.flow_title);
        let _ = writeln!(
            out,
            "{}",
            "=".repeat(self.flow_title.chars().count().clamp(3, 72))
        );
        for (label, value) in self.header_rows().iter().skip(1) {
            let _ = writeln!(out, "{:<10}{value}", format!("{label}:"));
        }
        let _ = writeln!(out, "{:<10}{}", "Version:", self.flow_version);
        out.push_str("\nSteps taken\n-----------\n");
        if self.steps.is_empty() {
            out.push_str("No steps recorded.\n");
        }
        for step in &self.steps {
            let indent = "    ".repeat(step.depth);
            let _ = writeln!(out, "{indent}{} {}", step.time, plain_step_line(step));
            let inner = format!("{indent}      ");
            for (time, note) in &step.notes {
                let _ = writeln!(out, "{inner}Note ({time}):");
                for line in note.lines() {
                    let _ = writeln!(out, "{inner}  {line}");
                }
            }
            for (time, output) in &step.outputs {
                let _ = writeln!(out, "{inner}Output ({time}):");
                for line in output.lines() {
                    let _ = writeln!(out, "{inner}  | {line}");
                }
            }
            for attachment in &step.attachments {
                let _ = writeln!(out, "{inner}Attachment: {attachment}");
            }
        }
        for (heading, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = write!(
                    out,
                    "\n{heading}\n{}\n{}\n",
                    "-".repeat(heading.len()),
                    text.trim_end()
                );
            }
        }
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n{line}\n");
        }
        out
    }

    /// An HTML fragment (no `<html>` wrapper) for pasting into a PSA or e-mail.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<article class=\"rf-ticket-note\">\n<h2>");
        push_escaped(&mut out, &self.flow_title);
        out.push_str("</h2>\n<table>\n");
        for (label, value) in self.header_rows().iter().skip(1) {
            out.push_str("<tr><th>");
            push_escaped(&mut out, label);
            out.push_str("</th><td>");
            push_escaped(&mut out, value);
            out.push_str("</td></tr>\n");
        }
        let _ = writeln!(
            out,
            "<tr><th>Flow version</th><td>{}</td></tr>\n</table>",
            self.flow_version
        );
        out.push_str("<h3>Steps taken</h3>\n");
        if self.steps.is_empty() {
            out.push_str("<p><em>No steps recorded.</em></p>\n");
        } else {
            out.push_str("<ol>\n");
            for step in &self.steps {
                let _ = write!(
                    out,
                    "<li class=\"rf-entry rf-{}\" data-depth=\"{}\"><time>",
                    entry_class(step.kind),
                    step.depth
                );
                push_escaped(&mut out, &step.time);
                out.push_str("</time> ");
                html_step_line(&mut out, step);
                for (time, note) in &step.notes {
                    out.push_str(
                        "<blockquote class=\"rf-note\" style=\"white-space: pre-wrap\"><time>",
                    );
                    push_escaped(&mut out, time);
                    out.push_str("</time> ");
                    push_escaped(&mut out, note);
                    out.push_str("</blockquote>");
                }
                for (time, output) in &step.outputs {
                    out.push_str("<figure class=\"rf-output\"><figcaption>Output ");
                    push_escaped(&mut out, time);
                    out.push_str("</figcaption><pre><code>");
                    push_escaped(&mut out, output);
                    out.push_str("</code></pre></figure>");
                }
                for attachment in &step.attachments {
                    out.push_str("<p class=\"rf-attachment\">Attachment: ");
                    push_escaped(&mut out, attachment);
                    out.push_str("</p>");
                }
                out.push_str("</li>\n");
            }
            out.push_str("</ol>\n");
        }
        for (heading, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = write!(
                    out,
                    "<h3>{heading}</h3>\n<p style=\"white-space: pre-wrap\">"
                );
                push_escaped(&mut out, text.trim_end());
                out.push_str("</p>\n");
            }
        }
        if let Some(line) = self.redaction_line() {
            out.push_str("<p class=\"rf-redaction\"><em>");
            push_escaped(&mut out, &line);
            out.push_str("</em></p>\n");
        }
        out.push_str("</article>\n");
        out
    }
}

fn entry_class(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Step => "step",
        EntryKind::Tick => "tick",
        EntryKind::Custom => "custom",
        EntryKind::SubflowEntered => "subflow-entered",
        EntryKind::SubflowLeft => "subflow-left",
        EntryKind::WentBack => "went-back",
    }
}

/// The words around a step's title, shared by the three renderers.
fn step_prefix(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Step => "",
        EntryKind::Tick => "Done: ",
        EntryKind::Custom => "Custom step: ",
        EntryKind::SubflowEntered => "Started subflow: ",
        EntryKind::SubflowLeft => "Returned from subflow: ",
        EntryKind::WentBack => "Went back to: ",
    }
}

fn markdown_step_line(step: &NoteStep) -> String {
    let mut line = format!(
        "{}**{}**",
        step_prefix(step.kind),
        markdown_inline(&step.title)
    );
    if let Some(answer) = &step.answer {
        let _ = write!(line, " → {}", markdown_inline(answer));
    }
    if let Some(value) = &step.value {
        let _ = write!(line, " — {}", markdown_inline(value));
    }
    if step.kind == EntryKind::Custom {
        line.push_str(" _(not in the flow)_");
    }
    line
}

fn plain_step_line(step: &NoteStep) -> String {
    let mut line = format!("{}{}", step_prefix(step.kind), step.title);
    if let Some(answer) = &step.answer {
        let _ = write!(line, " -> {answer}");
    }
    if let Some(value) = &step.value {
        let _ = write!(line, " - {value}");
    }
    if step.kind == EntryKind::Custom {
        line.push_str(" (not in the flow)");
    }
    line
}

fn html_step_line(out: &mut String, step: &NoteStep) {
    push_escaped(out, step_prefix(step.kind));
    out.push_str("<strong>");
    push_escaped(out, &step.title);
    out.push_str("</strong>");
    if let Some(answer) = &step.answer {
        out.push_str(" → <span class=\"rf-answer\">");
        push_escaped(out, answer);
        out.push_str("</span>");
    }
    if let Some(value) = &step.value {
        out.push_str(" — <span class=\"rf-value\">");
        push_escaped(out, value);
        out.push_str("</span>");
    }
    if step.kind == EntryKind::Custom {
        out.push_str(" <em>(not in the flow)</em>");
    }
}

fn push_escaped(out: &mut String, text: &str) {
    // Writing into a String cannot fail; the Result only exists for io::Write targets.
    let _ = escape_html(FmtWriter(&mut *out), text);
}

/// Literal text in Markdown: line breaks folded and characters that would start markup escaped,
/// so a title like `*` or `<b>`, or a path like `\\fs02\share`, reads exactly as typed.
fn markdown_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A backtick fence longer than any run of backticks inside `text`.
fn code_fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!(ExportFormat::parse("MD"), Some(ExportFormat::Markdown));
        assert_eq!(ExportFormat::parse("txt"), Some(ExportFormat::Text));
        assert_eq!(ExportFormat::parse("html"), Some(ExportFormat::Html));
        assert_eq!(ExportFormat::parse("pdf"), None);
    }

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(time::Duration::seconds(45)), "45 s");
        assert_eq!(human_duration(time::Duration::seconds(7 * 60 + 3)), "7 min");
        assert_eq!(human_duration(time::Duration::seconds(3900)), "1 h 05 min");
        assert_eq!(human_duration(time::Duration::seconds(-5)), "0 s");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_output() {
        assert_eq!(code_fence("plain"), "```");
        assert_eq!(code_fence("a ```` b"), "`````");
    }

    #[test]
    fn inline_markdown_is_escaped() {
        assert_eq!(markdown_inline("a*b_c\n<i>"), "a\\*b\\_c \\<i\\>");
    }
}
