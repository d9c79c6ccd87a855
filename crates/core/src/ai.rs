//! FlowPilot's side of the wire and its words, decided once without IO: what a replica sends
//! the sync server about a session (never the client's name, the ticket number or the
//! engineer), how the server redacts it and writes the prompt, and how the model's answer is
//! read back into ranked suggestions or a summary and next steps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::redact::{RedactionCounts, Redactor};

/// A step of the session so far, as FlowPilot sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PilotStep {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

/// Where the engineer is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PilotCurrent {
    /// The step's node id in the flow document.
    pub node: String,
    pub title: String,
    /// The step's answers, in the flow's order (none for an action or a free step).
    #[serde(default)]
    pub answers: Vec<String>,
}

/// What FlowPilot is asked about: the flow the session runs and the session so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PilotRequest {
    /// The flow document (`resolutionflow/v1`) of the version the session runs.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub flow: serde_json::Value,
    /// The intake values (redacted on the server before anything leaves it).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub path: Vec<PilotStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<PilotCurrent>,
    /// The outcome and summary so far, if the session is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// The most bytes of a request's session part (the flow document aside): FlowPilot reads a
/// session, not a log file.
pub const MAX_SESSION_BYTES: usize = 256 * 1024;
/// The most bytes of a flow document sent along.
pub const MAX_FLOW_BYTES: usize = 512 * 1024;

/// One of FlowPilot's suggestions for the current step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Suggestion {
    /// One of the step's answers.
    Answer { answer: String, reason: String },
    /// Something to do that the flow does not list.
    Action { action: String, reason: String },
}

/// What a FlowPilot stream ends with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PilotDone {
    /// The whole answer as streamed.
    pub text: String,
    /// Suggest: the ranked suggestions read from the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<Suggestion>,
    /// Summarize: the summary and the next steps read from the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_steps: Option<String>,
    pub model: String,
    pub usage: PilotUsage,
    /// How many things were masked before the session left the server.
    pub redactions: usize,
}

/// Tokens as the model reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PilotUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub cache_read_input_tokens: i64,
}

impl PilotUsage {
    /// What counts against a team's monthly cap: every token the model read or wrote.
    pub fn total(&self) -> i64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_creation_input_tokens)
            .saturating_add(self.cache_read_input_tokens)
    }
}

/// A team's FlowPilot usage in one calendar month (UTC), and its cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamAiUsage {
    /// `YYYY-MM`.
    pub month: String,
    pub requests: i64,
    #[serde(flatten)]
    pub usage: PilotUsage,
    pub total_tokens: i64,
    /// Tokens a month the team may use; none when there is no cap.
    pub monthly_cap: Option<i64>,
}

/// What the server asks of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PilotTask {
    Suggest,
    Summarize,
}

/// The instructions, the same for every request of a task (so they cache with the flow).
pub fn instructions(task: PilotTask) -> &'static str {
    match task {
        PilotTask::Suggest => {
            "You are FlowPilot, a senior engineer at a managed service provider, guiding a \
             colleague through a troubleshooting flow on a client's site. You are given the \
             flow document (JSON), the steps taken so far with their answers, notes and \
             command outputs, and the current step. Suggest what to do at the current step.\n\
             Rank the current step's answers from most to least likely, one line each, \
             exactly as:\nANSWER: <answer label as written in the flow> — <one-line reason>\n\
             When none of the answers fits what the notes show, or the step has no answers, \
             suggest instead, one line each:\nACTION: <what to do next> — <one-line reason>\n\
             Write nothing else. Some values were masked as [REDACTED …]; do not ask for them."
        }
        PilotTask::Summarize => {
            "You are FlowPilot, a senior engineer at a managed service provider. From the \
             troubleshooting flow document (JSON) and the session's steps, answers, notes and \
             outputs, write the ticket summary for the client's ticket: two to four plain \
             sentences saying what was wrong, what was done and how it ended. Then a line \
             reading exactly NEXT STEPS: followed by a short list of next steps, one per line \
             starting with \"- \" (or \"- None.\"). Write nothing else. Some values were \
             masked as [REDACTED …]; never guess them."
        }
    }
}

/// The session part of the prompt, redacted: every value an engineer typed or a command
/// printed goes through the redactor. Step titles and answers come from the flow, and are
/// redacted too (a flow may have been filled with a variable).
pub fn session_prompt(request: &PilotRequest) -> (String, RedactionCounts) {
    let mut redactor = Redactor::new();
    let mut out = String::new();
    if !request.variables.is_empty() {
        out.push_str("Intake:\n");
        for (name, value) in &request.variables {
            out.push_str(&format!("- {name}: {}\n", redactor.redact(value)));
        }
        out.push('\n');
    }
    out.push_str("Steps so far:\n");
    if request.path.is_empty() {
        out.push_str("(none yet)\n");
    }
    for (index, step) in request.path.iter().enumerate() {
        out.push_str(&format!("{}. {}", index + 1, redactor.redact(&step.title)));
        if let Some(answer) = &step.answer {
            out.push_str(&format!(" -> {}", redactor.redact(answer)));
        }
        if let Some(value) = &step.value {
            out.push_str(&format!(" = {}", redactor.redact(value)));
        }
        out.push('\n');
        for note in &step.notes {
            out.push_str(&format!("   note: {}\n", indent(&redactor.redact(note))));
        }
        for output in &step.outputs {
            out.push_str(&format!(
                "   output:\n   {}\n",
                indent(&redactor.redact(output))
            ));
        }
    }
    if let Some(current) = &request.current {
        out.push_str(&format!(
            "\nCurrent step ({}): {}\n",
            current.node,
            redactor.redact(&current.title)
        ));
        if current.answers.is_empty() {
            out.push_str("It has no answers to choose from.\n");
        } else {
            out.push_str("Its answers:\n");
            for answer in &current.answers {
                out.push_str(&format!("- {}\n", redactor.redact(answer)));
            }
        }
    }
    if let Some(outcome) = &request.outcome {
        out.push_str(&format!(
            "\nThe session ended: {}\n",
            redactor.redact(outcome)
        ));
    }
    (out, redactor.into_counts())
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n   ")
}

/// Reads the ranked suggestions out of a suggest answer: `ANSWER:` lines naming one of the
/// current step's answers (matched without regard to case; others dropped, repeats once) and
/// `ACTION:` lines. Anything else the model wrote is ignored.
pub fn read_suggestions(text: &str, answers: &[String]) -> Vec<Suggestion> {
    let mut suggestions = Vec::new();
    for line in text.lines() {
        let line = line.trim().trim_start_matches(['-', '*', ' ']);
        let (kind, rest) = match line.split_once(':') {
            Some((kind, rest)) => (kind.trim().to_ascii_uppercase(), rest.trim()),
            None => continue,
        };
        let (head, reason) = match rest.split_once(" — ").or_else(|| rest.split_once(" - ")) {
            Some((head, reason)) => (head.trim(), reason.trim()),
            None => (rest, ""),
        };
        let head = head.trim_matches(['"', '“', '”', '*']).trim();
        if head.is_empty() {
            continue;
        }
        let suggestion = match kind.as_str() {
            "ANSWER" => match answers
                .iter()
                .find(|answer| answer.trim().eq_ignore_ascii_case(head))
            {
                Some(answer) => Suggestion::Answer {
                    answer: answer.clone(),
                    reason: reason.to_owned(),
                },
                None => continue,
            },
            "ACTION" => Suggestion::Action {
                action: head.to_owned(),
                reason: reason.to_owned(),
            },
            _ => continue,
        };
        let repeated = suggestions.iter().any(|seen| match (seen, &suggestion) {
            (Suggestion::Answer { answer: a, .. }, Suggestion::Answer { answer: b, .. }) => a == b,
            _ => false,
        });
        if !repeated {
            suggestions.push(suggestion);
        }
    }
    suggestions
}

/// Splits a summarize answer at its `NEXT STEPS:` line into the summary and the next steps.
pub fn read_summary(text: &str) -> (String, Option<String>) {
    let mut summary = Vec::new();
    let mut next = None::<Vec<&str>>;
    for line in text.lines() {
        let trimmed = line.trim();
        if next.is_none() && trimmed.to_ascii_uppercase().starts_with("NEXT STEPS:") {
            let rest = trimmed["NEXT STEPS:".len()..].trim();
            next = Some(if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest]
            });
            continue;
        }
        match &mut next {
            Some(lines) => lines.push(line),
            None => summary.push(line),
        }
    }
    let summary = summary.join("\n").trim().to_owned();
    let next = next
        .map(|lines| lines.join("\n").trim().to_owned())
        .filter(|next| !next.is_empty());
    (summary, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PilotRequest {
        PilotRequest {
            flow: serde_json::json!({"title": "VPN"}),
            variables: BTreeMap::from([("user".into(), "jsmith@contoso.com".into())]),
            path: vec![PilotStep {
                title: "Does the laptop reach the internet?".into(),
                answer: Some("No".into()),
                value: None,
                notes: vec!["wifi password: Hunter2!xQ\nsecond line".into()],
                outputs: vec!["Reply from 10.1.2.3".into()],
            }],
            current: Some(PilotCurrent {
                node: "vpn".into(),
                title: "Does the VPN client connect?".into(),
                answers: vec!["Yes".into(), "No".into()],
            }),
            outcome: None,
        }
    }

    #[test]
    fn the_session_part_is_redacted_and_names_no_client() {
        let (prompt, counts) = session_prompt(&request());
        assert!(!prompt.contains("Hunter2!xQ"), "{prompt}");
        assert!(!prompt.contains("jsmith@contoso.com"), "{prompt}");
        assert!(!prompt.contains("10.1.2.3"), "{prompt}");
        assert!(counts.total() >= 3, "{counts}");
        assert!(prompt.contains("1. Does the laptop reach the internet? -> No"));
        assert!(prompt.contains("   second line"), "{prompt}");
        assert!(prompt.contains("Current step (vpn): Does the VPN client connect?"));
        assert!(prompt.contains("- Yes\n- No\n"));
    }

    #[test]
    fn suggestions_are_read_from_the_answer_and_nothing_else() {
        let answers = vec!["Yes".to_owned(), "No".to_owned()];
        let text = "Here you go:\nANSWER: no — the client shows error 809\n\
                    answer: Maybe — not an answer of this step\n\
                    ANSWER: Yes - it might have reconnected\nANSWER: No — repeated\n\
                    - ACTION: Check UDP 500/4500 on the firewall — 809 means IKE is blocked\n\
                    ACTION:   \nnonsense";
        assert_eq!(
            read_suggestions(text, &answers),
            vec![
                Suggestion::Answer {
                    answer: "No".into(),
                    reason: "the client shows error 809".into()
                },
                Suggestion::Answer {
                    answer: "Yes".into(),
                    reason: "it might have reconnected".into()
                },
                Suggestion::Action {
                    action: "Check UDP 500/4500 on the firewall".into(),
                    reason: "809 means IKE is blocked".into()
                },
            ]
        );
        assert!(read_suggestions("", &answers).is_empty());
    }

    #[test]
    fn a_summary_splits_at_its_next_steps_line() {
        assert_eq!(
            read_summary("The VPN failed.\nReinstalled it.\n\nNEXT STEPS:\n- Watch it.\n- Close."),
            (
                "The VPN failed.\nReinstalled it.".into(),
                Some("- Watch it.\n- Close.".into())
            )
        );
        assert_eq!(
            read_summary("All done.\nnext steps: none"),
            ("All done.".into(), Some("none".into()))
        );
        assert_eq!(
            read_summary("Only a summary."),
            ("Only a summary.".into(), None)
        );
    }
}
