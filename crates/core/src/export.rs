//! Ticket notes: a session rendered as Markdown, plain text or HTML, optionally redacted first.
//!
//! [`TicketNote::build`] gathers the note's content from the session state and cleans every text
//! that came from a person, a flow or another device, in this order: line endings become `\n`
//! (CommonMark ends a line at CR, LF and CRLF alike, so one spelling is the only safe one),
//! redaction runs when asked (header values included, so the counts cover them), and characters a
//! reader cannot see are written out visibly (see `show_hidden`). One-line fields (titles, header
//! values, answers, attachment names) have their line breaks folded into spaces. The three
//! renderers then only lay the note out, and each keeps every field inside its own section:
//! - Markdown escapes every character that could open markup (HTML, links, emphasis, code spans,
//!   tables, entities, heading attributes) and, at a line's start, anything that could open a
//!   block (headings, lists, block quotes, setext underlines, thematic breaks, fences); multi-line
//!   text is one paragraph with hard breaks, and pasted output sits in a backtick fence longer
//!   than any backtick run inside it.
//! - Plain text indents every multi-line field under its heading, so a field cannot draw a
//!   header line or a section of its own.
//! - HTML escapes every piece of text it writes, so nothing can add markup or script.

use std::borrow::Cow;
use std::fmt::Write as _;

use pulldown_cmark_escape::{FmtWriter, escape_html};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::redact::{RedactionCounts, Redactor};
use crate::session::{EntryKind, PathEntry, SessionState, SessionStatus};
use crate::text::is_hidden;

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

/// The content of a ticket note. Built by [`TicketNote::build`], every text is already cleaned:
/// `\n` line endings only, redacted when asked, hidden characters shown, one-line fields on one
/// line. The renderers still treat any line ending as one, so a note built by hand cannot break
/// out of its sections either.
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

pub(crate) fn date_time(at: OffsetDateTime) -> String {
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
        let mut clean = FieldCleaner::new(options.redact);
        let mut note = TicketNote::build_with(state, &mut clean);
        note.redactions = clean.into_counts();
        note
    }

    /// The note with every field cleaned by `clean`, whose counts go on across notes (a batch
    /// note holds several sessions); `redactions` is left for the caller to fill.
    pub(crate) fn build_with(state: &SessionState, clean: &mut FieldCleaner) -> TicketNote {
        let outcome = match (state.status, state.outcome) {
            (SessionStatus::Finished, Some(outcome)) => outcome.as_str().to_owned(),
            _ => "in progress".to_owned(),
        };
        let flow_title = clean.line(&state.flow_title);
        let ticket = clean.line(&state.ticket);
        let client = clean.line(&state.client);
        let engineer = clean.line(&state.engineer);
        let steps = state
            .path
            .iter()
            .map(|entry: &PathEntry| NoteStep {
                kind: entry.kind,
                time: clock(entry.at),
                depth: entry.depth,
                title: clean.line(&entry.title),
                answer: entry.answer.as_deref().map(|answer| clean.line(answer)),
                value: entry.value.as_deref().map(|value| clean.line(value)),
                notes: entry
                    .notes
                    .iter()
                    .map(|note| (clock(note.at), clean.text(&note.text)))
                    .collect(),
                outputs: entry
                    .outputs
                    .iter()
                    .map(|output| (clock(output.at), clean.text(&output.text)))
                    .collect(),
                attachments: entry
                    .attachments
                    .iter()
                    .map(|attachment| {
                        // The hash comes from an event like any text, so it is shown, not trusted;
                        // it is not redacted because its prefix is what identifies the file.
                        let hash: String = attachment.sha256.chars().take(12).collect();
                        format!(
                            "{} ({}, sha256 {})",
                            clean.line(&attachment.name),
                            human_size(attachment.size),
                            one_line(&show_hidden(&normalise_line_endings(&hash)))
                        )
                    })
                    .collect(),
            })
            .collect();
        let summary = state.summary.as_deref().map(|text| clean.text(text));
        let next_steps = state.next_steps.as_deref().map(|text| clean.text(text));
        TicketNote {
            flow_title,
            flow_version: state.flow.version.short(),
            ticket,
            client,
            engineer,
            started: date_time(state.started_at),
            duration: human_duration(state.duration()),
            outcome,
            steps,
            summary,
            next_steps,
            redactions: None,
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
        redaction_line(self.redactions.as_ref())
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
        self.write_markdown_body(&mut out, "###");
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n_{line}_\n");
        }
        out
    }

    /// The steps, then the summary and next steps under `heading` (`###`, or deeper inside a
    /// batch note).
    pub(crate) fn write_markdown_body(&self, out: &mut String, heading: &str) {
        if self.steps.is_empty() {
            out.push_str("_No steps recorded._\n");
        }
        for step in &self.steps {
            let indent = "  ".repeat(step.depth);
            let _ = writeln!(out, "{indent}- {} {}", step.time, markdown_step_line(step));
            let inner = format!("{indent}  ");
            for (time, note) in &step.notes {
                let _ = writeln!(out, "{inner}- Note ({time}):");
                for line in markdown_paragraph(note) {
                    let _ = writeln!(out, "{inner}  > {line}");
                }
            }
            for (time, output) in &step.outputs {
                let output = normalise_line_endings(output);
                let fence = code_fence(&output);
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
        for (title, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = write!(out, "\n{heading} {title}\n\n");
                for line in markdown_paragraph(text) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = one_line(&self.flow_title);
        let _ = writeln!(out, "{title}");
        let _ = writeln!(out, "{}", "=".repeat(title.chars().count().clamp(3, 72)));
        for (label, value) in self.header_rows().iter().skip(1) {
            let _ = writeln!(out, "{:<10}{}", format!("{label}:"), one_line(value));
        }
        let _ = writeln!(out, "{:<10}{}", "Version:", self.flow_version);
        out.push_str("\nSteps taken\n-----------\n");
        self.write_text_body(&mut out);
        if let Some(line) = self.redaction_line() {
            let _ = write!(out, "\n{line}\n");
        }
        out
    }

    /// The steps, then the summary and next steps.
    pub(crate) fn write_text_body(&self, out: &mut String) {
        if self.steps.is_empty() {
            out.push_str("No steps recorded.\n");
        }
        for step in &self.steps {
            let indent = "    ".repeat(step.depth);
            let _ = writeln!(out, "{indent}{} {}", step.time, plain_step_line(step));
            let inner = format!("{indent}      ");
            for (time, note) in &step.notes {
                let _ = writeln!(out, "{inner}Note ({time}):");
                for line in normalise_line_endings(note).lines() {
                    let _ = writeln!(out, "{inner}  {line}");
                }
            }
            for (time, output) in &step.outputs {
                let _ = writeln!(out, "{inner}Output ({time}):");
                for line in normalise_line_endings(output).lines() {
                    let _ = writeln!(out, "{inner}  | {line}");
                }
            }
            for attachment in &step.attachments {
                let _ = writeln!(out, "{inner}Attachment: {}", one_line(attachment));
            }
        }
        for (heading, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = writeln!(out, "\n{heading}\n{}", "-".repeat(heading.len()));
                // Indented, so no line of the text can pass for a heading or a header row.
                for line in normalise_line_endings(text.trim_end()).lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    }

    /// An HTML fragment (no `<html>` wrapper) for pasting into a PSA or e-mail.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<article class=\"rf-ticket-note\">\n<h2>");
        push_escaped(&mut out, &self.flow_title);
        out.push_str("</h2>\n<table>\n");
        for (label, value) in self.header_rows().iter().skip(1) {
            push_header_row(&mut out, label, value);
        }
        let _ = writeln!(
            out,
            "<tr><th>Flow version</th><td>{}</td></tr>\n</table>",
            self.flow_version
        );
        out.push_str("<h3>Steps taken</h3>\n");
        self.write_html_body(&mut out, "h3");
        if let Some(line) = self.redaction_line() {
            out.push_str("<p class=\"rf-redaction\"><em>");
            push_escaped(&mut out, &line);
            out.push_str("</em></p>\n");
        }
        out.push_str("</article>\n");
        out
    }

    /// The steps, then the summary and next steps under `heading` (`h3`, or deeper).
    pub(crate) fn write_html_body(&self, out: &mut String, heading: &str) {
        if self.steps.is_empty() {
            out.push_str("<p><em>No steps recorded.</em></p>\n");
        } else {
            out.push_str("<ol>\n");
            for step in &self.steps {
                let _ = write!(
                    out,
                    "<li class=\"rf-entry rf-{}\" data-depth=\"{}\"><time>",
                    step.kind.class_name(),
                    step.depth
                );
                push_escaped(out, &step.time);
                out.push_str("</time> ");
                html_step_line(out, step);
                for (time, note) in &step.notes {
                    out.push_str(
                        "<blockquote class=\"rf-note\" style=\"white-space: pre-wrap\"><time>",
                    );
                    push_escaped(out, time);
                    out.push_str("</time> ");
                    push_escaped(out, note);
                    out.push_str("</blockquote>");
                }
                for (time, output) in &step.outputs {
                    out.push_str("<figure class=\"rf-output\"><figcaption>Output ");
                    push_escaped(out, time);
                    out.push_str("</figcaption><pre><code>");
                    push_escaped(out, output);
                    out.push_str("</code></pre></figure>");
                }
                for attachment in &step.attachments {
                    out.push_str("<p class=\"rf-attachment\">Attachment: ");
                    push_escaped(out, attachment);
                    out.push_str("</p>");
                }
                out.push_str("</li>\n");
            }
            out.push_str("</ol>\n");
        }
        for (title, text) in [("Summary", &self.summary), ("Next steps", &self.next_steps)] {
            if let Some(text) = text {
                let _ = write!(
                    out,
                    "<{heading}>{title}</{heading}>\n<p style=\"white-space: pre-wrap\">"
                );
                push_escaped(out, text.trim_end());
                out.push_str("</p>\n");
            }
        }
    }
}

/// One `<tr><th>label</th><td>value</td></tr>` of a note's header table, escaped.
pub(crate) fn push_header_row(out: &mut String, label: &str, value: &str) {
    out.push_str("<tr><th>");
    push_escaped(out, label);
    out.push_str("</th><td>");
    push_escaped(out, value);
    out.push_str("</td></tr>\n");
}

/// The line a redacted note ends with (a session's or a batch's).
pub(crate) fn redaction_line(counts: Option<&RedactionCounts>) -> Option<String> {
    counts.map(|counts| format!("Redacted before export: {counts}."))
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
        EntryKind::HandedOff => "Handed off to: ",
    }
}

fn markdown_step_line(step: &NoteStep) -> String {
    // An empty title would leave `****`, which Markdown shows as four literal asterisks.
    let mut line = if step.title.is_empty() {
        step_prefix(step.kind).trim_end().to_owned()
    } else {
        format!(
            "{}**{}**",
            step_prefix(step.kind),
            markdown_inline(&step.title)
        )
    };
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
    let mut line = format!("{}{}", step_prefix(step.kind), one_line(&step.title));
    if let Some(answer) = &step.answer {
        let _ = write!(line, " -> {}", one_line(answer));
    }
    if let Some(value) = &step.value {
        let _ = write!(line, " - {}", one_line(value));
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

pub(crate) fn push_escaped(out: &mut String, text: &str) {
    // Writing into a String cannot fail; the Result only exists for io::Write targets.
    let _ = escape_html(FmtWriter(&mut *out), text);
}

/// Cleans the texts of one note, with one redactor so its counts cover every field.
pub(crate) struct FieldCleaner {
    redactor: Option<Redactor>,
}

impl FieldCleaner {
    pub(crate) fn new(redact: bool) -> FieldCleaner {
        FieldCleaner {
            redactor: redact.then(Redactor::new),
        }
    }

    /// What redaction masked, when it ran.
    pub(crate) fn into_counts(self) -> Option<RedactionCounts> {
        self.redactor.map(Redactor::into_counts)
    }

    /// A field that may span lines (a note, an output, the summary, the next steps).
    pub(crate) fn text(&mut self, text: &str) -> String {
        let text = normalise_line_endings(text);
        let text = match self.redactor.as_mut() {
            Some(redactor) => Cow::Owned(redactor.redact(&text)),
            None => text,
        };
        if let Cow::Owned(shown) = show_hidden(&text) {
            return shown;
        }
        text.into_owned()
    }

    /// A field that is one line in every format (a title, a header value, an answer, a name).
    pub(crate) fn line(&mut self, text: &str) -> String {
        let text = self.text(text);
        let unchanged = matches!(one_line(&text), Cow::Borrowed(_)) && text.trim() == text;
        if unchanged {
            return text;
        }
        one_line(&text).trim().to_owned()
    }
}

/// CRLF and a lone CR become LF. CommonMark, terminals and browsers all end a line at a lone CR,
/// so text that kept one could start a line the renderer did not write.
pub(crate) fn normalise_line_endings(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// Line breaks (any spelling) folded into spaces, for fields that must stay on one line.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|byte| byte == b'\n' || byte == b'\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", " ").replace(['\n', '\r'], " "))
}

/// Characters a reader cannot see, or that change how the text around them reads, written as
/// `<U+XXXX>`: C0 and C1 controls other than tab and line feed, every Unicode format character
/// (general category Cf: bidirectional embeddings, overrides and isolates, zero-width spaces and
/// joiners, the word joiner and invisible operators, the byte-order mark, the Arabic letter mark,
/// the soft hyphen, tag characters...), the line and paragraph separators, and the Hangul fillers
/// that render as blank letters. They are shown rather than removed so a reader sees that
/// something was there: a right-to-left override that made `exe.txt` read as `txt.exe`, or a
/// zero-width space that split a word to slip it past a filter. Redaction runs before, so its
/// markers are never touched.
fn show_hidden(text: &str) -> Cow<'_, str> {
    // Most fields are printable ASCII, tabs and line feeds: one byte scan says so.
    let printable_ascii = text
        .bytes()
        .all(|byte| matches!(byte, b' '..=b'~' | b'\t' | b'\n'));
    if printable_ascii || !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            let _ = write!(out, "<U+{:04X}>", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Characters escaped wherever they appear in Markdown text: they open HTML and autolinks (`<`),
/// entities (`&`, which could spell a hidden character back), links and images (`[`, `]`),
/// emphasis, strikethrough, subscript and superscript (`*`, `_`, `~`, `^`), code spans (`` ` ``),
/// tables (`|`), headings (`#`), block quotes (`>`), heading attributes (`{`, `}`), or escape
/// the next one (`\`). `$` (math in some renderers) is left alone: it is everywhere in
/// PowerShell, and math opens no markup.
const MARKDOWN_SPECIAL: &[char] = &[
    '\\', '`', '*', '_', '[', ']', '<', '>', '#', '|', '~', '^', '&', '{', '}',
];

/// Literal text in Markdown on one line: line breaks folded and characters that would start
/// markup escaped, so a title like `*` or `<b>`, or a path like `\\fs02\share`, reads exactly as
/// typed. Only for text that follows something else on its line (a label, a list marker).
pub(crate) fn markdown_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            _ if MARKDOWN_SPECIAL.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Multi-line text as the lines of one Markdown paragraph, each ending in a hard break (`\`)
/// but the last, so the engineer's line breaks show and a blank line cannot end the paragraph.
/// Each line is trimmed (four spaces would start indented code after a blank line) and escaped
/// like [`markdown_inline`]; its first character is escaped too when it is ASCII punctuation
/// (`-`, `+`, `=`, `:` open lists, setext underlines, thematic breaks and definition lists
/// there), and so is the `.` or `)` after leading digits (an ordered list).
pub(crate) fn markdown_paragraph(text: &str) -> Vec<String> {
    let text = normalise_line_endings(text);
    let mut lines: Vec<String> = text
        .trim()
        .lines()
        .map(|line| {
            let line = line.trim();
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let mut out = String::with_capacity(line.len() + 8);
            for (index, c) in line.char_indices() {
                let opens_block = (index == 0 && c.is_ascii_punctuation())
                    || (digits > 0 && index == digits && matches!(c, '.' | ')'));
                if opens_block || MARKDOWN_SPECIAL.contains(&c) {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        })
        .collect();
    let last = lines.len().saturating_sub(1);
    for line in lines.iter_mut().take(last) {
        line.push('\\');
    }
    lines
}

/// A backtick fence longer than any run of backticks inside `text` (and at least three). Only a
/// backtick run at least as long can close it; a tilde line cannot close a backtick fence at any
/// length or indentation, and the content's line endings are LF only, so no line of the output
/// is read at an indentation the exporter did not write.
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
        assert_eq!(code_fence("   ````\n"), "`````");
        // Tildes never close a backtick fence, so they do not lengthen it.
        assert_eq!(code_fence("~~~~~~\n~~~"), "```");
    }

    #[test]
    fn inline_markdown_is_escaped() {
        assert_eq!(markdown_inline("a*b_c\n<i>"), "a\\*b\\_c \\<i\\>");
        assert_eq!(
            markdown_inline("&#x202E; ~~x~~ {#id onclick=y} a|b"),
            "\\&\\#x202E; \\~\\~x\\~\\~ \\{\\#id onclick=y\\} a\\|b"
        );
    }

    #[test]
    fn line_endings_have_one_spelling() {
        assert_eq!(normalise_line_endings("a\r\nb\rc\nd\r"), "a\nb\nc\nd\n");
        assert!(matches!(normalise_line_endings("a\nb"), Cow::Borrowed(_)));
        assert_eq!(one_line("a\r\nb\rc\nd"), "a b c d");
    }

    #[test]
    fn hidden_characters_are_shown_by_code_point() {
        assert_eq!(
            show_hidden("invoice\u{202E}fdp.exe"),
            "invoice<U+202E>fdp.exe"
        );
        assert_eq!(
            show_hidden("pass\u{200B}word\u{FEFF}\u{0}\u{7}\u{1B}[31m\u{85}\u{AD}\u{E0041}"),
            "pass<U+200B>word<U+FEFF><U+0000><U+0007><U+001B>[31m<U+0085><U+00AD><U+E0041>"
        );
        // Tabs, line feeds and ordinary non-ASCII text stay as they are.
        assert!(matches!(show_hidden("a\tb\nü 東京 🙂"), Cow::Borrowed(_)));
    }

    #[test]
    fn paragraph_lines_cannot_open_blocks() {
        assert_eq!(
            markdown_paragraph(
                "# title\n---\n- item\n+ item\n1. one\n2) two\n    code\n\n=== \n: def"
            ),
            vec![
                "\\# title\\",
                "\\---\\",
                "\\- item\\",
                "\\+ item\\",
                "1\\. one\\",
                "2\\) two\\",
                "code\\",
                "\\",
                "\\===\\",
                "\\: def",
            ]
        );
        assert_eq!(markdown_paragraph("plain"), vec!["plain"]);
    }
}
