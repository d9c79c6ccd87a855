//! Ticket-note exports: insta snapshots of a realistic session in the three formats (and
//! redacted), and the guarantee that no text in any field can leave its section: the Markdown
//! note parsed with pulldown-cmark, the HTML's tags and the plain text's margin are checked
//! against what the exporter itself writes, for attack cases and for random hostile sessions.

use proptest::prelude::*;
use rf_core::export::{ExportFormat, ExportOptions, TicketNote, export};
use rf_core::session::{
    AttachmentRef, Choice, Command, EntryKind, FlowRef, FlowSet, SessionEvent, SessionState,
    StartRequest, decide, start,
};
use rf_core::{Flow, Outcome};
use uuid::Uuid;

const LOCKOUT_ID: &str = "9a4f6b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";

fn flows() -> (FlowSet, Uuid) {
    let share = serde_json::json!({
        "format": "resolutionflow/v1", "id": "1d6f0a52-7e8b-4c9d-a0b1-c2d3e4f5a6b7",
        "kind": "troubleshooting", "title": "User cannot access a file share on {{server}}",
        "intake": [{"name": "server", "label": "File server", "required": true},
                   {"name": "user", "label": "User name", "required": true}],
        "start": "ping",
        "nodes": [
            {"id": "ping", "type": "question", "title": "Does {{server}} answer on TCP 445?",
             "commands": [{"label": "Test SMB", "language": "powershell", "code": "Test-NetConnection {{server}} -Port 445"}],
             "answers": [{"label": "Yes", "next": "locked"}, {"label": "No", "next": "firewall"}]},
            {"id": "firewall", "type": "action", "title": "Allow SMB from the client VLAN to {{server}}", "next": "ping"},
            {"id": "locked", "type": "question", "title": "Is the account {{user}} locked or expired?",
             "answers": [{"label": "Locked", "next": "lockout"}, {"label": "Neither", "next": "acl"}]},
            {"id": "lockout", "type": "subflow", "title": "Investigate the lockout", "flow": LOCKOUT_ID, "next": "acl"},
            {"id": "acl", "type": "resolution", "title": "Fix share and NTFS permissions", "outcome": "resolved"}
        ]
    });
    let lockout = serde_json::json!({
        "format": "resolutionflow/v1", "id": LOCKOUT_ID, "kind": "troubleshooting",
        "title": "AD account lockout investigation", "start": "source",
        "nodes": [
            {"id": "source", "type": "question", "title": "Does event 4740 on the PDC emulator name a source computer?",
             "answers": [{"label": "Yes", "next": "stale"}, {"label": "No", "next": "audit"}]},
            {"id": "audit", "type": "action", "title": "Enable account lockout auditing", "next": "source"},
            {"id": "stale", "type": "resolution", "title": "Remove stale credentials on the source", "outcome": "resolved"}
        ]
    });
    let mut set = FlowSet::new();
    let mut share_id = Uuid::nil();
    for document in [share, lockout] {
        let flow = Flow::parse(&document.to_string()).unwrap();
        let flow_id = flow.id.unwrap();
        if share_id.is_nil() {
            share_id = flow_id;
        }
        set.insert(FlowRef::of(flow_id, &flow), flow);
    }
    (set, share_id)
}

/// The texts a person types into the realistic session; tests replace one at a time.
#[derive(Debug, Clone)]
struct Texts {
    ticket: String,
    client: String,
    engineer: String,
    output: String,
    note: String,
    custom_step: String,
    attachment: String,
    summary: String,
    next_steps: String,
}

impl Texts {
    fn with_note(note: &str) -> Texts {
        Texts {
            ticket: "CW-48213".into(),
            client: "Northwind Traders".into(),
            engineer: "Grace Hopper".into(),
            output: "ComputerName     : fs02.northwind.local\nRemoteAddress    : 10.40.2.15\nTcpTestSucceeded : False".into(),
            note: note.into(),
            custom_step: "Reset the user's mobile mail profile".into(),
            attachment: "security-4740.evtx".into(),
            summary: "SMB was blocked from VLAN 40 and the account kept locking from a stale phone profile. Opened TCP 445, cleared the stale credentials.".into(),
            next_steps: "Watch for 4740 events for jsmith over the next 48 hours.".into(),
        }
    }
}

/// A realistic session, with deterministic timestamps a few minutes apart.
fn session(note_text: &str) -> SessionState {
    session_with(&Texts::with_note(note_text))
}

fn session_with(texts: &Texts) -> SessionState {
    let (flows, share_id) = flows();
    let mut clock = time::macros::datetime!(2026-11-23 09:14:05 UTC);
    let mut tick = || {
        clock += time::Duration::seconds(97);
        clock
    };
    let request = StartRequest {
        ticket: texts.ticket.clone(),
        client: texts.client.clone(),
        engineer: texts.engineer.clone(),
        variables: [
            ("server".to_owned(), "fs02.northwind.local".to_owned()),
            ("user".to_owned(), "jsmith".to_owned()),
        ]
        .into(),
    };
    let events: Vec<SessionEvent> = start(&flows, share_id, request)
        .unwrap()
        .into_iter()
        .map(|kind| SessionEvent { at: tick(), kind })
        .collect();
    let mut state = SessionState::replay(&events).unwrap();
    let commands = vec![
        Command::PasteOutput {
            text: texts.output.clone(),
        },
        Command::Answer {
            choice: Choice::parse("no"),
        },
        Command::Note {
            text: texts.note.clone(),
        },
        Command::Answer {
            choice: Choice::parse("done"),
        },
        Command::Answer {
            choice: Choice::parse("yes"),
        },
        Command::Answer {
            choice: Choice::parse("locked"),
        },
        Command::Note {
            text: "Source: LAPTOP-JS01, phone mail app with the old password=Summer2026!".into(),
        },
        Command::Attach {
            attachment: AttachmentRef {
                name: texts.attachment.clone(),
                sha256: "5e3a9c1f0b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f".into(),
                size: 69_632,
                media_type: "application/octet-stream".into(),
            },
        },
        Command::Answer {
            choice: Choice::parse("yes"),
        },
        Command::Answer {
            choice: Choice::parse("1"),
        },
        Command::CustomStep {
            title: texts.custom_step.clone(),
        },
        Command::Note {
            text: "Contacted jsmith@northwind.com; share path \\\\fs02\\Finance$\\Q4".into(),
        },
        Command::Finish {
            outcome: Outcome::Resolved,
            summary: Some(texts.summary.clone()),
            next_steps: Some(texts.next_steps.clone()),
        },
    ];
    for command in commands {
        for kind in decide(&state, &flows, command).unwrap() {
            state.apply(&SessionEvent { at: tick(), kind }).unwrap();
        }
    }
    state
}

const NOTE: &str =
    "Firewall change CHG-7781 approved by Dana; rule \"SMB-in\" now allows 10.40.0.0/16";

#[test]
fn markdown_note() {
    let note = export(
        &session(NOTE),
        ExportFormat::Markdown,
        ExportOptions::default(),
    );
    assert!(note.redactions.is_none());
    insta::assert_snapshot!(note.text);
}

#[test]
fn plain_text_note() {
    insta::assert_snapshot!(
        export(&session(NOTE), ExportFormat::Text, ExportOptions::default()).text
    );
}

#[test]
fn html_note() {
    insta::assert_snapshot!(
        export(&session(NOTE), ExportFormat::Html, ExportOptions::default()).text
    );
}

#[test]
fn redacted_markdown_note() {
    let note = export(
        &session(NOTE),
        ExportFormat::Markdown,
        ExportOptions { redact: true },
    );
    for secret in [
        "Summer2026!",
        "10.40.2.15",
        "jsmith@northwind.com",
        "\\\\fs02\\Finance$",
        "10.40.0.0",
    ] {
        assert!(
            !note.text.contains(secret),
            "{secret} leaked:\n{}",
            note.text
        );
    }
    let counts = note.redactions.unwrap();
    assert!(counts.total() >= 5, "{counts}");
    insta::assert_snapshot!(note.text);
}

#[test]
fn hostile_text_cannot_add_markup_to_html() {
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> \" ' & </article>";
    let html = export(
        &session(hostile),
        ExportFormat::Html,
        ExportOptions::default(),
    )
    .text;
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("</article>").count(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever a note says, the HTML has exactly the tags of a harmless note: the text can
    /// only ever be text.
    #[test]
    fn any_note_text_stays_text_in_html(text in "\\PC{1,80}") {
        prop_assume!(!text.trim().is_empty());
        let baseline = export(&session("plain"), ExportFormat::Html, ExportOptions::default()).text;
        let html = export(&session(&text), ExportFormat::Html, ExportOptions::default()).text;
        prop_assert_eq!(html.matches('<').count(), baseline.matches('<').count());
        prop_assert_eq!(html.matches('>').count(), baseline.matches('>').count());
    }
}

#[test]
fn markdown_notes_read_literally() {
    let note = export(
        &session("Get-Service *spool* on \\\\fs02\\print$ # check <b>"),
        ExportFormat::Markdown,
        ExportOptions::default(),
    );
    assert!(
        note.text
            .contains("> Get-Service \\*spool\\* on \\\\\\\\fs02\\\\print$ \\# check \\<b\\>"),
        "{}",
        note.text
    );
}

// ---------------------------------------------------------------------------------------------
// Notes that cannot be broken out of: whatever any field holds, each format keeps it as text,
// inside its own section, with nothing hidden.

/// Invisible or reordering characters, as the tests define them (independently of the exporter):
/// controls other than tab and line feed, Unicode format characters and the line separators.
fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\t' && c != '\n')
        || matches!(
            u32::from(c),
            0x00AD
                | 0x061C
                | 0x180E
                | 0x200B..=0x200F
                | 0x2028..=0x202E
                | 0x2060..=0x2064
                | 0x2066..=0x206F
                | 0xFEFF
                | 0xFFF9..=0xFFFB
                | 0xE0001
                | 0xE0020..=0xE007F
        )
}

/// Markers standing for the exporter's own emphasis in the text of a block. Cleaned fields never
/// hold control characters, so a field cannot fake them.
const STRONG: &str = "\u{1}";
const EMPHASIS: &str = "\u{2}";

/// One block of a parsed Markdown note with all its text (breaks as `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Heading(usize, String),
    /// A list item at a list depth (1 = the outermost list) with its own text.
    Item(usize, String),
    Quote(String),
    Code(String),
    Paragraph(String),
}

impl Block {
    fn text_mut(&mut self) -> &mut String {
        match self {
            Block::Heading(_, text)
            | Block::Item(_, text)
            | Block::Quote(text)
            | Block::Code(text)
            | Block::Paragraph(text) => text,
        }
    }

    /// Whitespace runs folded to one space (Markdown folds them the same way), except in code.
    fn comparable(&self) -> Block {
        let fold = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
        match self {
            Block::Heading(level, text) => Block::Heading(*level, fold(text)),
            Block::Item(depth, text) => Block::Item(*depth, fold(text)),
            Block::Quote(text) => Block::Quote(fold(text)),
            Block::Code(text) => Block::Code(text.clone()),
            Block::Paragraph(text) => Block::Paragraph(fold(text)),
        }
    }
}

/// Parses a Markdown note with every extension pulldown-cmark has that could turn text into
/// structure, and returns its blocks; anything a note never holds (raw HTML, links, images,
/// tables, footnotes, rules, inline code...) is an error.
fn markdown_blocks(markdown: &str) -> Result<Vec<Block>, String> {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    // Not enabled: math (`$` stays unescaped on purpose, PowerShell is full of it, and math
    // opens no markup), smart punctuation (it rewrites text, not structure) and metadata blocks
    // (a note starts with the exporter's heading).
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_GFM
        | Options::ENABLE_DEFINITION_LIST
        | Options::ENABLE_WIKILINKS
        | Options::ENABLE_SUPERSCRIPT
        | Options::ENABLE_SUBSCRIPT;
    let mut blocks: Vec<Block> = Vec::new();
    // For each open tag, the block it opened (if it opened one).
    let mut open: Vec<Option<usize>> = Vec::new();
    let mut lists = 0;
    for event in Parser::new_ext(markdown, options) {
        let innermost = open.iter().rev().find_map(|block| *block);
        let push_text = |blocks: &mut Vec<Block>, text: &str| match innermost {
            Some(index) => {
                blocks[index].text_mut().push_str(text);
                Ok(())
            }
            None => Err(format!("text outside any block: {text:?}")),
        };
        match event {
            Event::Start(tag) => {
                let block = match tag {
                    Tag::Heading {
                        level,
                        id: None,
                        ref classes,
                        ref attrs,
                    } if classes.is_empty() && attrs.is_empty() => {
                        Some(Block::Heading(level as usize, String::new()))
                    }
                    Tag::List(_) => {
                        lists += 1;
                        None
                    }
                    Tag::Item => Some(Block::Item(lists, String::new())),
                    Tag::BlockQuote(None) => Some(Block::Quote(String::new())),
                    Tag::CodeBlock(CodeBlockKind::Fenced(ref info)) if info.is_empty() => {
                        Some(Block::Code(String::new()))
                    }
                    Tag::Paragraph if innermost.is_none() => Some(Block::Paragraph(String::new())),
                    Tag::Paragraph => None,
                    Tag::Strong => {
                        push_text(&mut blocks, STRONG)?;
                        None
                    }
                    Tag::Emphasis => {
                        push_text(&mut blocks, EMPHASIS)?;
                        None
                    }
                    other => return Err(format!("unexpected {other:?}")),
                };
                open.push(block.map(|block| {
                    blocks.push(block);
                    blocks.len() - 1
                }));
            }
            Event::End(end) => {
                match end {
                    TagEnd::List(_) => lists -= 1,
                    TagEnd::Strong => push_text(&mut blocks, STRONG)?,
                    TagEnd::Emphasis => push_text(&mut blocks, EMPHASIS)?,
                    _ => {}
                }
                open.pop();
            }
            Event::Text(text) => push_text(&mut blocks, &text)?,
            Event::SoftBreak | Event::HardBreak => push_text(&mut blocks, "\n")?,
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(blocks)
}

/// The words the exporter puts before a step's title.
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

/// The blocks a note's Markdown must parse to: one per section, each holding exactly its field.
fn expected_markdown_blocks(note: &TicketNote) -> Vec<Block> {
    let mut blocks = vec![Block::Heading(2, note.flow_title.clone())];
    for (label, value) in [
        ("Ticket", &note.ticket),
        ("Client", &note.client),
        ("Engineer", &note.engineer),
        ("Started", &note.started),
        ("Duration", &note.duration),
        ("Outcome", &note.outcome),
        ("Flow version", &note.flow_version),
    ] {
        blocks.push(Block::Item(1, format!("{STRONG}{label}:{STRONG} {value}")));
    }
    blocks.push(Block::Heading(3, "Steps taken".into()));
    if note.steps.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "{EMPHASIS}No steps recorded.{EMPHASIS}"
        )));
    }
    for step in &note.steps {
        let mut line = format!("{} {}", step.time, step_prefix(step.kind));
        if !step.title.is_empty() {
            line.push_str(&format!("{STRONG}{}{STRONG}", step.title));
        }
        if let Some(answer) = &step.answer {
            line.push_str(&format!(" → {answer}"));
        }
        if let Some(value) = &step.value {
            line.push_str(&format!(" — {value}"));
        }
        if step.kind == EntryKind::Custom {
            line.push_str(&format!(" {EMPHASIS}(not in the flow){EMPHASIS}"));
        }
        blocks.push(Block::Item(step.depth + 1, line));
        for (time, text) in &step.notes {
            blocks.push(Block::Item(step.depth + 2, format!("Note ({time}):")));
            blocks.push(Block::Quote(text.clone()));
        }
        for (time, text) in &step.outputs {
            blocks.push(Block::Item(step.depth + 2, format!("Output ({time}):")));
            let mut code = String::new();
            for line in text.lines() {
                code.push_str(line);
                code.push('\n');
            }
            blocks.push(Block::Code(code));
        }
        for attachment in &step.attachments {
            blocks.push(Block::Item(
                step.depth + 2,
                format!("Attachment: {attachment}"),
            ));
        }
    }
    for (heading, text) in [("Summary", &note.summary), ("Next steps", &note.next_steps)] {
        if let Some(text) = text {
            blocks.push(Block::Heading(3, heading.into()));
            blocks.push(Block::Paragraph(text.clone()));
        }
    }
    if let Some(counts) = &note.redactions {
        blocks.push(Block::Paragraph(format!(
            "{EMPHASIS}Redacted before export: {counts}.{EMPHASIS}"
        )));
    }
    blocks.iter().map(Block::comparable).collect()
}

/// Every text of a built note: none may hold a CR or a hidden character.
fn note_texts(note: &TicketNote) -> Vec<&str> {
    let mut texts = vec![
        note.flow_title.as_str(),
        &note.ticket,
        &note.client,
        &note.engineer,
    ];
    for step in &note.steps {
        texts.push(&step.title);
        texts.extend(step.answer.as_deref());
        texts.extend(step.value.as_deref());
        texts.extend(step.notes.iter().map(|(_, text)| text.as_str()));
        texts.extend(step.outputs.iter().map(|(_, text)| text.as_str()));
        texts.extend(step.attachments.iter().map(String::as_str));
    }
    texts.extend(note.summary.as_deref());
    texts.extend(note.next_steps.as_deref());
    texts
}

/// The Markdown note parses to exactly the exporter's sections, each holding its own field, with
/// no raw HTML, link or image anywhere.
fn check_markdown(note: &TicketNote) -> Result<(), String> {
    for text in note_texts(note) {
        if text.contains('\r') || text.chars().any(is_hidden) {
            return Err(format!("a field kept a CR or a hidden character: {text:?}"));
        }
    }
    let markdown = note.render(ExportFormat::Markdown);
    let blocks = markdown_blocks(&markdown).map_err(|error| format!("{error} in\n{markdown}"))?;
    let blocks: Vec<Block> = blocks.iter().map(Block::comparable).collect();
    let expected = expected_markdown_blocks(note);
    if blocks != expected {
        let first = blocks
            .iter()
            .zip(&expected)
            .position(|(got, want)| got != want)
            .unwrap_or(blocks.len().min(expected.len()));
        return Err(format!(
            "block {first} differs: got {:?}, want {:?} ({} blocks, {} expected) in\n{markdown}",
            blocks.get(first),
            expected.get(first),
            blocks.len(),
            expected.len()
        ));
    }
    Ok(())
}

/// Every tag of an HTML fragment, in order (the text between tags is escaped, so a `<` always
/// opens a tag).
fn html_tags(html: &str) -> Vec<&str> {
    html.split('<')
        .skip(1)
        .map(|rest| rest.split_once('>').map_or(rest, |(tag, _)| tag))
        .collect()
}

/// The same note with every field replaced by a harmless word, keeping its shape.
fn placeholder_note(note: &TicketNote) -> TicketNote {
    let word = |_: &String| "x".to_owned();
    let mut plain = note.clone();
    for text in [
        &mut plain.flow_title,
        &mut plain.ticket,
        &mut plain.client,
        &mut plain.engineer,
    ] {
        *text = "x".into();
    }
    for step in &mut plain.steps {
        step.title = "x".into();
        step.answer = step.answer.as_ref().map(word);
        step.value = step.value.as_ref().map(word);
        for (_, text) in step.notes.iter_mut().chain(step.outputs.iter_mut()) {
            *text = "x".into();
        }
        for name in &mut step.attachments {
            *name = "x".into();
        }
    }
    plain.summary = plain.summary.as_ref().map(word);
    plain.next_steps = plain.next_steps.as_ref().map(word);
    plain
}

/// The HTML note has exactly the tags of the same note with harmless fields, and nothing hidden.
fn check_html(note: &TicketNote) -> Result<(), String> {
    let html = note.render(ExportFormat::Html);
    let baseline = placeholder_note(note).render(ExportFormat::Html);
    if html_tags(&html) != html_tags(&baseline) {
        return Err(format!("tags differ from the exporter's own:\n{html}"));
    }
    if let Some(hidden) = html.chars().find(|&c| is_hidden(c) || c == '\r') {
        return Err(format!("hidden U+{:04X} in\n{html}", u32::from(hidden)));
    }
    Ok(())
}

/// Lines the exporter starts at the left margin (titles, header rows, headings, top-level steps).
fn margin_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.starts_with(' '))
        .map(|line| line.split(':').next().unwrap_or(line))
        .collect()
}

/// The plain-text note holds no control or hidden character but tab and line feed, and its
/// fields draw no line at the left margin: every such line is one the exporter drew.
fn check_text(note: &TicketNote) -> Result<(), String> {
    let text = note.render(ExportFormat::Text);
    if let Some(hidden) = text.chars().find(|&c| is_hidden(c)) {
        return Err(format!("hidden U+{:04X} in\n{text}", u32::from(hidden)));
    }
    let baseline = placeholder_note(note).render(ExportFormat::Text);
    let (lines, expected) = (margin_lines(&text), margin_lines(&baseline));
    if lines.len() != expected.len() {
        return Err(format!(
            "{} lines at the margin, {} expected:\n{text}",
            lines.len(),
            expected.len()
        ));
    }
    // Header rows and headings keep their labels (titles and steps hold field text).
    for (line, want) in lines.iter().zip(&expected) {
        let label = [
            "Ticket",
            "Client",
            "Engineer",
            "Started",
            "Duration",
            "Outcome",
            "Version",
            "Steps taken",
            "Summary",
            "Next steps",
        ]
        .contains(want);
        if label && line != want {
            return Err(format!("{want:?} became {line:?} in\n{text}"));
        }
    }
    Ok(())
}

/// All three formats of a note, checked as the properties check them.
fn check_all(note: &TicketNote) -> Result<(), String> {
    check_markdown(note)?;
    check_html(note)?;
    check_text(note)
}

// Sessions made of hostile text, recorded through the engine.

/// A flow whose every title is a variable (intake values reach the note untouched, whatever
/// they hold) and whose answer labels are given; a checklist subflow records ticked values.
fn hostile_flows(labels: &[String; 2]) -> Option<(FlowSet, Uuid)> {
    const CHECKLIST_ID: &str = "3f2c1b0a-9e8d-4c7b-a6f5-e4d3c2b1a098";
    // Labels cannot be blank or name a variable, or the flow is refused.
    let label = |text: &String| format!("L {}", text.replace("{{", "{ {"));
    let main = serde_json::json!({
        "format": "resolutionflow/v1", "id": "5b1e7c3d-2a4f-4e6b-8c9d-0e1f2a3b4c5d",
        "kind": "troubleshooting", "title": "{{t0}}",
        "intake": (0..6).map(|index| serde_json::json!({"name": format!("t{index}"), "label": "T", "default": "d"})).collect::<Vec<_>>(),
        "start": "ask",
        "nodes": [
            {"id": "ask", "type": "question", "title": "{{t1}}",
             "answers": [{"label": label(&labels[0]), "next": "act"}, {"label": label(&labels[1]), "next": "sub"}]},
            {"id": "act", "type": "action", "title": "{{t2}}", "next": "ask"},
            {"id": "sub", "type": "subflow", "title": "Checklist", "flow": CHECKLIST_ID, "next": "end"},
            {"id": "end", "type": "resolution", "title": "{{t3}}", "outcome": "resolved"}
        ]
    });
    let checklist = serde_json::json!({
        "format": "resolutionflow/v1", "id": CHECKLIST_ID, "kind": "procedural", "title": "{{t4}}",
        "intake": [{"name": "t4", "label": "T", "default": "d"}, {"name": "t5", "label": "T", "default": "d"}],
        "nodes": [
            {"id": "typed", "type": "step", "title": "{{t5}}", "verify": {"kind": "text", "prompt": "Value"}},
            {"id": "plain", "type": "step", "title": "Plain step"}
        ]
    });
    let mut set = FlowSet::new();
    let mut main_id = None;
    for document in [main, checklist] {
        let flow = Flow::parse(&document.to_string()).ok()?;
        let flow_id = flow.id?;
        main_id.get_or_insert(flow_id);
        set.insert(FlowRef::of(flow_id, &flow), flow);
    }
    Some((set, main_id?))
}

#[derive(Debug, Clone)]
enum Act {
    Note(String),
    Output(String),
    Custom(String),
    Attach(String, String),
    Answer(usize),
    Tick(bool, String),
    Back,
}

#[derive(Debug, Clone)]
struct Script {
    header: [String; 3],
    titles: [String; 6],
    labels: [String; 2],
    acts: Vec<Act>,
    finish: Option<(String, String)>,
    redact: bool,
}

/// Pieces of attacks and of awkward text, glued together at random.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            "\r", "\r\n", "\n", "\n\n", "`", "```", "````", "   ```", "~~~", "  ~~~~", "\t",
            "    ", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<!-- c -->",
            "]]>", "<![CDATA[", "</article>", "<b>", "&lt;b&gt;", "&#x202E;", "&amp;",
            "[a](javascript:alert(1))", "![i](javascript:x)", "<javascript:alert(1)>",
            "<https://e.com>", "[r]: javascript:x", "[r]", "[^1]", "[ ] ", "[[w]]", "> ",
            "# ", "## h", "---", "===", "***", "___", "- ", "+ ", "* ", "1. ", "2) ", ": ",
            "\n  - ", "\n 3) ", "\n   # ", "\n  > ",
            "| a | b |", "|---|", "~~s~~", "*e*", "__s__", "`c`", "\\", "{#id onclick=x}",
            "^s^", "$x$", "\u{202E}", "\u{2066}", "\u{200B}", "\u{200D}", "\u{FEFF}",
            "\u{061C}", "\u{AD}", "\u{0}", "\u{7}", "\u{1B}[2J", "\u{85}", "\u{2028}",
            "\u{E0041}", "\u{A0}", "password=Summer2026!", "10.1.2.3", "a@b.com", "x", "y z",
        ]).prop_map(str::to_owned),
        1 => "[a-z ]{1,6}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

fn script() -> impl Strategy<Value = Script> {
    let act = prop_oneof![
        2 => hostile_text().prop_map(Act::Note),
        2 => hostile_text().prop_map(Act::Output),
        1 => hostile_text().prop_map(Act::Custom),
        1 => (hostile_text(), "[0-9a-f]{64}|\\PC{0,16}").prop_map(|(name, hash)| Act::Attach(name, hash)),
        4 => (0..3_usize).prop_map(Act::Answer),
        1 => (any::<bool>(), hostile_text()).prop_map(|(typed, value)| Act::Tick(typed, value)),
        1 => Just(Act::Back),
    ];
    (
        prop::array::uniform3(hostile_text()),
        prop::array::uniform6(hostile_text()),
        prop::array::uniform2(hostile_text()),
        prop::collection::vec(act, 0..14),
        prop::option::of((hostile_text(), hostile_text())),
        any::<bool>(),
    )
        .prop_map(|(header, titles, labels, acts, finish, redact)| Script {
            header,
            titles,
            labels,
            acts,
            finish,
            redact,
        })
}

/// Records a script through the engine; commands the engine refuses are skipped, as a person
/// would retype them.
fn record(script: &Script) -> Option<SessionState> {
    let (flows, flow_id) = hostile_flows(&script.labels)?;
    let mut clock = time::macros::datetime!(2026-11-23 09:00:00 UTC);
    let mut tick = || {
        clock += time::Duration::seconds(61);
        clock
    };
    let [ticket, client, engineer] = script.header.clone();
    let request = StartRequest {
        ticket,
        client,
        engineer,
        variables: script
            .titles
            .iter()
            .enumerate()
            .map(|(index, title)| (format!("t{index}"), title.clone()))
            .collect(),
    };
    let events: Vec<SessionEvent> = start(&flows, flow_id, request)
        .ok()?
        .into_iter()
        .map(|kind| SessionEvent { at: tick(), kind })
        .collect();
    let mut state = SessionState::replay(&events).ok()?;
    let finish = script
        .finish
        .iter()
        .map(|(summary, next_steps)| Command::Finish {
            outcome: Outcome::Resolved,
            summary: Some(summary.clone()),
            next_steps: Some(next_steps.clone()),
        });
    let commands = script.acts.iter().map(|act| match act {
        Act::Note(text) => Command::Note { text: text.clone() },
        Act::Output(text) => Command::PasteOutput { text: text.clone() },
        Act::Custom(title) => Command::CustomStep {
            title: title.clone(),
        },
        Act::Attach(name, sha256) => Command::Attach {
            attachment: AttachmentRef {
                name: name.clone(),
                sha256: sha256.clone(),
                size: 1234,
                media_type: "text/plain".into(),
            },
        },
        Act::Answer(index) => Command::Answer {
            choice: Choice::Index(*index),
        },
        Act::Tick(typed, value) => Command::Tick {
            node: if *typed { "typed" } else { "plain" }.into(),
            value: Some(value.clone()),
        },
        Act::Back => Command::Back,
    });
    for command in commands.chain(finish) {
        if let Ok(kinds) = decide(&state, &flows, command) {
            for kind in kinds {
                state.apply(&SessionEvent { at: tick(), kind }).ok()?;
            }
        }
    }
    Some(state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever any field holds, the Markdown note parses to the exporter's sections only, each
    /// holding its own field: no raw HTML, no link or image, no extra heading, list item, quote
    /// or code block, and no CR or hidden character left.
    #[test]
    fn any_session_stays_in_its_sections_in_markdown(script in script()) {
        let state = record(&script);
        prop_assume!(state.is_some());
        let note = TicketNote::build(&state.unwrap(), ExportOptions { redact: script.redact });
        if let Err(problem) = check_markdown(&note) {
            prop_assert!(false, "{}", problem);
        }
    }

    /// Whatever any field holds, the HTML note has exactly the exporter's own tags.
    #[test]
    fn any_session_adds_no_tags_to_html(script in script()) {
        let state = record(&script);
        prop_assume!(state.is_some());
        let note = TicketNote::build(&state.unwrap(), ExportOptions { redact: script.redact });
        if let Err(problem) = check_html(&note) {
            prop_assert!(false, "{}", problem);
        }
    }

    /// Whatever any field holds, the plain-text note has no control or hidden character and no
    /// line at the margin the exporter did not draw.
    #[test]
    fn any_session_stays_in_its_sections_in_text(script in script()) {
        let state = record(&script);
        prop_assume!(state.is_some());
        let note = TicketNote::build(&state.unwrap(), ExportOptions { redact: script.redact });
        if let Err(problem) = check_text(&note) {
            prop_assert!(false, "{}", problem);
        }
    }
}

/// Where a case puts its text in the realistic session.
#[derive(Debug, Clone, Copy)]
enum Place {
    Ticket,
    Client,
    Engineer,
    Output,
    Note,
    CustomStep,
    Attachment,
    Summary,
    NextSteps,
}

fn hostile_session(place: Place, text: &str) -> SessionState {
    let mut texts = Texts::with_note(NOTE);
    let field = match place {
        Place::Ticket => &mut texts.ticket,
        Place::Client => &mut texts.client,
        Place::Engineer => &mut texts.engineer,
        Place::Output => &mut texts.output,
        Place::Note => &mut texts.note,
        Place::CustomStep => &mut texts.custom_step,
        Place::Attachment => &mut texts.attachment,
        Place::Summary => &mut texts.summary,
        Place::NextSteps => &mut texts.next_steps,
    };
    *field = text.to_owned();
    session_with(&texts)
}

/// The attacks of issue 11, one by one: each note must pass the same checks as the properties
/// (sections, tags, margin, nothing hidden) and read as stated in each format.
#[test]
fn attacks_stay_text_in_their_own_section() {
    struct Case {
        name: &'static str,
        place: Place,
        text: &'static str,
        markdown: &'static [&'static str],
        html: &'static [&'static str],
        text_note: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "a lone CR before <script> in pasted output",
            place: Place::Output,
            text: "Ping OK\r<script>alert(1)</script>",
            markdown: &["    ```\n    Ping OK\n    <script>alert(1)</script>\n    ```\n"],
            html: &["Ping OK\n&lt;script&gt;alert(1)&lt;/script&gt;"],
            text_note: &["        | Ping OK\n        | <script>alert(1)</script>\n"],
        },
        Case {
            name: "CRLF, a fence and an <img onerror> in pasted output",
            place: Place::Output,
            text: "\r\n```\r\n<img src=x onerror=alert(1)>",
            markdown: &["    ````\n    \n    ```\n    <img src=x onerror=alert(1)>\n    ````\n"],
            html: &["&lt;img src=x onerror=alert(1)&gt;"],
            text_note: &["        | ```\n        | <img src=x onerror=alert(1)>\n"],
        },
        Case {
            name: "a line of four backticks inside output",
            place: Place::Output,
            text: "Get-Content notes.md\n````\n<b>bold</b>\n````",
            markdown: &[
                "    `````\n    Get-Content notes.md\n    ````\n    <b>bold</b>\n    ````\n    `````\n",
            ],
            html: &["&lt;b&gt;bold&lt;/b&gt;"],
            text_note: &["        | ````\n"],
        },
        Case {
            name: "a tilde fence inside output",
            place: Place::Output,
            text: "~~~\n<b>x</b>\n~~~~~",
            markdown: &["    ```\n    ~~~\n    <b>x</b>\n    ~~~~~\n    ```\n"],
            html: &["~~~\n&lt;b&gt;x&lt;/b&gt;\n~~~~~"],
            text_note: &["        | ~~~\n"],
        },
        Case {
            name: "a fence indented three spaces inside output",
            place: Place::Output,
            text: "   ```\n<i>x</i>",
            markdown: &["    ````\n       ```\n    <i>x</i>\n    ````\n"],
            html: &["   ```\n&lt;i&gt;x&lt;/i&gt;"],
            text_note: &["        |    ```\n"],
        },
        Case {
            name: "a note starting with a heading",
            place: Place::Note,
            text: "# Fixed\nall good",
            markdown: &["    > \\# Fixed\\\n    > all good\n"],
            html: &["# Fixed\nall good"],
            text_note: &["        # Fixed\n        all good\n"],
        },
        Case {
            name: "a note starting with a thematic break",
            place: Place::Note,
            text: "---\n\n- not a list\n1. nor this",
            markdown: &["    > \\---\\\n    > \\\n    > \\- not a list\\\n    > 1\\. nor this\n"],
            html: &["---\n\n- not a list"],
            text_note: &["        ---\n"],
        },
        Case {
            name: "indented list markers in a note",
            place: Place::Note,
            text: "Checked:\n  - DNS\n   2) DHCP\n \t> quote",
            markdown: &["    > Checked:\\\n    > \\- DNS\\\n    > 2\\) DHCP\\\n    > \\> quote\n"],
            html: &["Checked:\n  - DNS"],
            text_note: &["          - DNS\n"],
        },
        Case {
            name: "a note underlined as a setext heading",
            place: Place::Note,
            text: "Title\n=====",
            markdown: &["    > Title\\\n    > \\=====\n"],
            html: &["Title\n====="],
            text_note: &["        =====\n"],
        },
        Case {
            name: "a javascript: link, an autolink and an entity in a note",
            place: Place::Note,
            text: "[click](javascript:alert(1)) <javascript:alert(2)> &#x202E;",
            markdown: &["\\[click\\](javascript:alert(1)) \\<javascript:alert(2)\\> \\&\\#x202E;"],
            html: &["[click](javascript:alert(1)) &lt;javascript:alert(2)&gt; &amp;#x202E;"],
            text_note: &["[click](javascript:alert(1))"],
        },
        Case {
            name: "an HTML comment and CDATA end in a custom step's title",
            place: Place::CustomStep,
            text: "<!-- hidden --> ]]> </article>",
            markdown: &["Custom step: **\\<!-- hidden --\\> \\]\\]\\> \\</article\\>**"],
            html: &["&lt;!-- hidden --&gt; ]]&gt; &lt;/article&gt;"],
            text_note: &["Custom step: <!-- hidden --> ]]> </article> (not in the flow)"],
        },
        Case {
            name: "a header value with a newline",
            place: Place::Ticket,
            text: "CW-1\nOutcome: resolved",
            markdown: &["- **Ticket:** CW-1 Outcome: resolved\n"],
            html: &["<td>CW-1 Outcome: resolved</td>"],
            text_note: &["Ticket:   CW-1 Outcome: resolved\n"],
        },
        Case {
            name: "a right-to-left override in a client name",
            place: Place::Client,
            text: "Contoso\u{202E}gnp.exe",
            markdown: &["- **Client:** Contoso\\<U+202E\\>gnp.exe\n"],
            html: &["<td>Contoso&lt;U+202E&gt;gnp.exe</td>"],
            text_note: &["Client:   Contoso<U+202E>gnp.exe\n"],
        },
        Case {
            name: "isolates and a zero-width joiner in an engineer's name",
            place: Place::Engineer,
            text: "Grace\u{2066}\u{200D}Hopper\u{2069}",
            markdown: &["Grace\\<U+2066\\>\\<U+200D\\>Hopper\\<U+2069\\>"],
            html: &["Grace&lt;U+2066&gt;&lt;U+200D&gt;Hopper&lt;U+2069&gt;"],
            text_note: &["Grace<U+2066><U+200D>Hopper<U+2069>"],
        },
        Case {
            name: "a zero-width space and a BOM in an attachment's name",
            place: Place::Attachment,
            text: "\u{FEFF}invoice\u{200B}.pdf",
            markdown: &["- Attachment: \\<U+FEFF\\>invoice\\<U+200B\\>.pdf ("],
            html: &["Attachment: &lt;U+FEFF&gt;invoice&lt;U+200B&gt;.pdf ("],
            text_note: &["Attachment: <U+FEFF>invoice<U+200B>.pdf ("],
        },
        Case {
            name: "terminal escapes in pasted output",
            place: Place::Output,
            text: "\u{1b}[2J\u{1b}[31mFAILED\u{7}",
            markdown: &["    <U+001B>[2J<U+001B>[31mFAILED<U+0007>\n"],
            html: &["&lt;U+001B&gt;[2J&lt;U+001B&gt;[31mFAILED&lt;U+0007&gt;"],
            text_note: &["| <U+001B>[2J<U+001B>[31mFAILED<U+0007>\n"],
        },
        Case {
            name: "a summary that draws the next section itself",
            place: Place::Summary,
            text: "Done.\r\n\r\nNext steps\r\n----------\r\nNothing, close the ticket.",
            markdown: &[
                "### Summary\n\nDone.\\\n\\\nNext steps\\\n\\----------\\\nNothing, close the ticket.\n",
            ],
            html: &["Done.\n\nNext steps\n----------\nNothing"],
            text_note: &[
                "Summary\n-------\n  Done.\n  \n  Next steps\n  ----------\n  Nothing, close the ticket.\n",
            ],
        },
        Case {
            name: "heading attributes and a table in next steps",
            place: Place::NextSteps,
            text: "Check {#x onclick=alert(1)}\n| a | b |\n|---|---|",
            markdown: &[
                "Check \\{\\#x onclick=alert(1)\\}\\\n\\| a \\| b \\|\\\n\\|---\\|---\\|\n",
            ],
            html: &["Check {#x onclick=alert(1)}\n| a | b |"],
            text_note: &["  | a | b |\n"],
        },
    ];
    for case in cases {
        let state = hostile_session(case.place, case.text);
        for redact in [false, true] {
            let note = TicketNote::build(&state, ExportOptions { redact });
            if let Err(problem) = check_all(&note) {
                panic!("{} (redact: {redact}): {problem}", case.name);
            }
        }
        let note = TicketNote::build(&state, ExportOptions::default());
        for (format, expected) in [
            (ExportFormat::Markdown, case.markdown),
            (ExportFormat::Html, case.html),
            (ExportFormat::Text, case.text_note),
        ] {
            let rendered = note.render(format);
            assert!(
                !rendered.contains('\r'),
                "{}: CR left in\n{rendered}",
                case.name
            );
            for wanted in expected {
                assert!(
                    rendered.contains(wanted),
                    "{} ({format:?}): {wanted:?} missing from\n{rendered}",
                    case.name
                );
            }
        }
    }
}

/// The header values go through the same redactor as the body, so they are masked and counted.
#[test]
fn header_values_are_redacted_and_counted() {
    use rf_core::redact::RedactionKind;
    let baseline = export(
        &session(NOTE),
        ExportFormat::Markdown,
        ExportOptions { redact: true },
    )
    .redactions
    .unwrap();
    let mut texts = Texts::with_note(NOTE);
    texts.ticket = "CW-1 (10.20.30.40 down)".into();
    texts.client = "Contoso, contact it@contoso.com".into();
    texts.engineer = "grace.hopper@msp.example".into();
    let state = session_with(&texts);
    for format in [
        ExportFormat::Markdown,
        ExportFormat::Text,
        ExportFormat::Html,
    ] {
        let note = export(&state, format, ExportOptions { redact: true });
        for secret in ["10.20.30.40", "it@contoso.com", "grace.hopper@msp.example"] {
            assert!(
                !note.text.contains(secret),
                "{secret} leaked:\n{}",
                note.text
            );
        }
        let counts = note.redactions.unwrap();
        assert_eq!(
            counts.get(RedactionKind::Email),
            baseline.get(RedactionKind::Email) + 2,
            "{counts}"
        );
        assert_eq!(
            counts.get(RedactionKind::Ipv4),
            baseline.get(RedactionKind::Ipv4) + 1,
            "{counts}"
        );
    }
    // Without redaction the header reads as typed.
    let plain = export(&state, ExportFormat::Text, ExportOptions::default()).text;
    assert!(
        plain.contains("Client:   Contoso, contact it@contoso.com\n"),
        "{plain}"
    );
}

/// What the attacks look like once exported: each inside its section, escaped or shown.
fn hostile_texts() -> Texts {
    Texts {
        ticket: "CW-1\nOutcome: resolved".into(),
        client: "Contoso\u{202E}gnp.exe".into(),
        output: "Ping OK\r<script>alert(1)</script>\r\n````\r\n<img src=x onerror=alert(1)>".into(),
        note: "# Fixed\n---\n[click](javascript:alert(1)) &#x202E;\u{200B}".into(),
        summary: "Done.\n\nNext steps\n----------\n- nothing".into(),
        ..Texts::with_note(NOTE)
    }
}

#[test]
fn hostile_markdown_note() {
    insta::assert_snapshot!(
        export(
            &session_with(&hostile_texts()),
            ExportFormat::Markdown,
            ExportOptions::default()
        )
        .text
    );
}

#[test]
fn hostile_plain_text_note() {
    insta::assert_snapshot!(
        export(
            &session_with(&hostile_texts()),
            ExportFormat::Text,
            ExportOptions::default()
        )
        .text
    );
}
