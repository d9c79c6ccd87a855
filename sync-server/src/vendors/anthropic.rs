//! FlowPilot's model: Anthropic's Messages API, streamed. The request is opened with the
//! retries Anthropic's own SDKs make (2 by default; 408, 409, 429, 5xx and 529; the
//! `retry-after-ms` or `retry-after` header honoured up to 60 s, else exponential backoff with
//! jitter; `x-should-retry` obeyed; never a request refused for the spend limit), all before
//! the first byte reaches the client. The stream is then read event by event
//! ([`StreamReader`]): every event type Anthropic documents is handled, unknown ones ignored,
//! and an `error` event mid-stream ends it as an error of ours.

use std::time::Duration;

use reqwest::StatusCode;
use rf_core::ai::{PilotTask, PilotUsage};
use serde_json::{Value, json};

use crate::vendors::connectwise::{RetryPolicy, upstream_url};

/// The API version every request names.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_FAST_MODEL: &str = "claude-haiku-4-5";
pub const DEFAULT_STRONG_MODEL: &str = "claude-sonnet-4-6";
/// The models a server may be configured with.
pub const MODELS: &[&str] = &[
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-opus-4-5",
    "claude-opus-4-6",
    "claude-opus-4-7",
];
/// The highest `max_tokens` a server may be configured with, and its default.
pub const MAX_TOKENS_CAP: u32 = 4096;
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The server's Anthropic key; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ApiKey(..)")
    }
}

/// How the server reaches Anthropic.
#[derive(Debug, Clone)]
pub struct AiSettings {
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub fast_model: String,
    pub strong_model: String,
    pub max_tokens: u32,
    pub retry: RetryPolicy,
}

impl Default for AiSettings {
    fn default() -> AiSettings {
        AiSettings {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            fast_model: DEFAULT_FAST_MODEL.to_owned(),
            strong_model: DEFAULT_STRONG_MODEL.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
            retry: RetryPolicy::default(),
        }
    }
}

impl AiSettings {
    /// Checks what an operator configured: an https address (or plain HTTP to this machine),
    /// models from [`MODELS`], a `max_tokens` within [`MAX_TOKENS_CAP`].
    pub fn check(&self) -> Result<(), String> {
        upstream_url(&self.base_url, true).map_err(|_| {
            format!(
                "--anthropic-base-url {:?} must be an https address (or http to this machine), like {DEFAULT_BASE_URL}",
                self.base_url
            )
        })?;
        for model in [&self.fast_model, &self.strong_model] {
            if !MODELS.contains(&model.as_str()) {
                return Err(format!(
                    "{model:?} is not a model FlowPilot may use; choose one of {}",
                    MODELS.join(", ")
                ));
            }
        }
        if !(1..=MAX_TOKENS_CAP).contains(&self.max_tokens) {
            return Err(format!(
                "--ai-max-tokens must be between 1 and {MAX_TOKENS_CAP}"
            ));
        }
        Ok(())
    }

    pub fn model(&self, task: PilotTask) -> &str {
        match task {
            PilotTask::Suggest => &self.fast_model,
            PilotTask::Summarize => &self.strong_model,
        }
    }
}

/// Why a FlowPilot request did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiError {
    #[error(
        "FlowPilot is not set up on this sync server: its administrator must give it an Anthropic API key (RF_ANTHROPIC_API_KEY)"
    )]
    NotConfigured,
    #[error(
        "the organisation's Anthropic spend limit is reached; FlowPilot is off until its administrator raises it"
    )]
    SpendLimit,
    #[error("{0}")]
    Refused(String),
    #[error(
        "FlowPilot cannot reach its model just now ({reason}); the team's path statistics still guide you"
    )]
    Unavailable { reason: String, retry_after: u64 },
}

/// The request body: the instructions and the flow document as a cacheable prefix (the same
/// for every step of a session), then the session.
pub fn request_body(
    settings: &AiSettings,
    task: PilotTask,
    flow: &Value,
    session_prompt: &str,
) -> Value {
    json!({
        "model": settings.model(task),
        "max_tokens": settings.max_tokens,
        "stream": true,
        "system": [
            {"type": "text", "text": rf_core::ai::instructions(task)},
            {
                "type": "text",
                "text": format!("The flow document:\n{flow}"),
                "cache_control": {"type": "ephemeral"}
            }
        ],
        "messages": [{"role": "user", "content": session_prompt}],
    })
}

/// A wait the server asked for: `retry-after-ms` (milliseconds) or `retry-after` (seconds),
/// only when between 0 and 60 s (as the SDKs do); otherwise the caller backs off itself.
fn asked_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let read =
        |name: &str| -> Option<f64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let wait = read("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| read("retry-after"))?;
    (wait > 0.0 && wait <= 60.0)
        .then(|| Duration::try_from_secs_f64(wait).ok())
        .flatten()
}

/// Anthropic's error body, `{"type": "error", "error": {"type", "message", "details"}}`.
fn error_of(body: &str) -> (String, String, Option<String>) {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = &value["error"];
    let text = |value: &Value| {
        value.as_str().map(|text| {
            text.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        })
    };
    (
        text(&error["type"]).unwrap_or_default(),
        text(&error["message"]).unwrap_or_default(),
        text(&error["details"]["error_code"]),
    )
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

/// Opens the stream, retrying as the SDKs do. Only a `200` comes back.
pub async fn open_stream(
    http: &reqwest::Client,
    settings: &AiSettings,
    body: &Value,
) -> Result<reqwest::Response, AiError> {
    let key = settings.api_key.as_ref().ok_or(AiError::NotConfigured)?;
    let url = format!("{}/v1/messages", settings.base_url.trim_end_matches('/'));
    let mut retry = 0;
    loop {
        let sent = http
            .post(&url)
            .header("x-api-key", &key.0)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body)
            .send()
            .await;
        let (failure, wait) = match sent {
            Ok(response) if response.status().is_success() => return Ok(response),
            Err(error) => {
                let reason = if error.is_timeout() {
                    "no answer in time"
                } else {
                    "could not connect"
                };
                (
                    AiError::Unavailable {
                        reason: reason.to_owned(),
                        retry_after: 30,
                    },
                    None,
                )
            }
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let text = response.text().await.unwrap_or_default();
                let (kind, message, code) = error_of(&text);
                if status == StatusCode::TOO_MANY_REQUESTS
                    && code.as_deref() == Some("enforced_spend_limit_reached")
                {
                    return Err(AiError::SpendLimit);
                }
                let told = headers
                    .get("x-should-retry")
                    .and_then(|value| value.to_str().ok())
                    .map(str::trim);
                let again = match told {
                    Some("true") => true,
                    Some("false") => false,
                    _ => retryable(status),
                };
                let wait = asked_wait(&headers);
                let failure = if retryable(status) || again {
                    AiError::Unavailable {
                        reason: format!("{status} {kind}").trim().to_owned(),
                        retry_after: wait.map_or(30, |wait| wait.as_secs().max(1)),
                    }
                } else {
                    AiError::Refused(match status.as_u16() {
                        401 => "the sync server's Anthropic API key was refused (401); its administrator must set a valid RF_ANTHROPIC_API_KEY".to_owned(),
                        403 => format!("Anthropic refused the server's key this request (403 {message})"),
                        _ => format!("Anthropic refused the request ({status} {kind}: {message})"),
                    })
                };
                if !again {
                    return Err(failure);
                }
                (failure, wait)
            }
        };
        if retry >= settings.retry.retries {
            return Err(failure);
        }
        tokio::time::sleep(wait.unwrap_or_else(|| settings.retry.backoff(retry))).await;
        retry += 1;
    }
}

/// What one event of Anthropic's stream means for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// Text to pass on.
    Text(String),
    /// The answer is complete.
    Done,
    /// Anthropic ended the stream with an error: its type and words.
    Failed { kind: String, message: String },
    /// Nothing to pass on (ping, block boundaries, usage, an event type this server does not
    /// know).
    Nothing,
}

/// Reads Anthropic's stream events, keeping the model and the usage they report.
#[derive(Debug, Default)]
pub struct StreamReader {
    pub model: String,
    pub usage: PilotUsage,
}

impl StreamReader {
    pub fn step(&mut self, event: &str, data: &str) -> StreamStep {
        let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let number = |value: &Value| value.as_i64().unwrap_or(0);
        match event {
            "message_start" => {
                let message = &value["message"];
                self.model = message["model"].as_str().unwrap_or_default().to_owned();
                let usage = &message["usage"];
                self.usage.input_tokens = number(&usage["input_tokens"]);
                self.usage.output_tokens = number(&usage["output_tokens"]);
                self.usage.cache_creation_input_tokens =
                    number(&usage["cache_creation_input_tokens"]);
                self.usage.cache_read_input_tokens = number(&usage["cache_read_input_tokens"]);
                StreamStep::Nothing
            }
            "content_block_start" => match value["content_block"]["text"].as_str() {
                Some(text) if value["content_block"]["type"] == "text" && !text.is_empty() => {
                    StreamStep::Text(text.to_owned())
                }
                _ => StreamStep::Nothing,
            },
            "content_block_delta" => match value["delta"]["text"].as_str() {
                Some(text) if value["delta"]["type"] == "text_delta" => {
                    StreamStep::Text(text.to_owned())
                }
                _ => StreamStep::Nothing,
            },
            "message_delta" => {
                // Counts in message_delta are cumulative.
                let usage = &value["usage"];
                if let Some(output) = usage["output_tokens"].as_i64() {
                    self.usage.output_tokens = output;
                }
                if let Some(input) = usage["input_tokens"].as_i64() {
                    self.usage.input_tokens = input;
                }
                StreamStep::Nothing
            }
            "message_stop" => StreamStep::Done,
            "error" => {
                let (kind, message, _) = error_of(data);
                StreamStep::Failed { kind, message }
            }
            // ping, content_block_stop, and whatever Anthropic adds later.
            _ => StreamStep::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_event_is_read_and_unknown_ones_ignored() {
        let mut reader = StreamReader::default();
        let steps: Vec<StreamStep> = [
            ("message_start", r#"{"type":"message_start","message":{"id":"m","model":"claude-haiku-4-5","usage":{"input_tokens":120,"output_tokens":1,"cache_creation_input_tokens":900,"cache_read_input_tokens":0}}}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", r#"{"type":"ping"}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ANSWER: No"}}"#),
            ("brand_new_event", r#"{"type":"brand_new_event","x":1}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]
        .iter()
        .map(|(event, data)| reader.step(event, data))
        .collect();
        assert_eq!(
            steps,
            vec![
                StreamStep::Nothing,
                StreamStep::Nothing,
                StreamStep::Nothing,
                StreamStep::Text("ANSWER: No".into()),
                StreamStep::Nothing,
                StreamStep::Nothing,
                StreamStep::Nothing,
                StreamStep::Nothing,
                StreamStep::Done,
            ]
        );
        assert_eq!(reader.model, "claude-haiku-4-5");
        assert_eq!(
            reader.usage,
            PilotUsage {
                input_tokens: 120,
                output_tokens: 15,
                cache_creation_input_tokens: 900,
                cache_read_input_tokens: 0
            }
        );
        assert_eq!(
            reader.step(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            StreamStep::Failed {
                kind: "overloaded_error".into(),
                message: "Overloaded".into()
            }
        );
    }

    #[test]
    fn waits_are_taken_from_the_headers_only_within_a_minute() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = reqwest::header::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, value.parse().unwrap());
            }
            map
        };
        assert_eq!(
            asked_wait(&headers(&[
                ("retry-after-ms", "1500"),
                ("retry-after", "9")
            ])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            asked_wait(&headers(&[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(asked_wait(&headers(&[("retry-after", "3600")])), None);
        assert_eq!(asked_wait(&headers(&[("retry-after", "0")])), None);
        assert_eq!(asked_wait(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn only_allowed_models_and_https_or_loopback_addresses_are_configured() {
        assert!(AiSettings::default().check().is_ok());
        let with = |change: &dyn Fn(&mut AiSettings)| {
            let mut settings = AiSettings::default();
            change(&mut settings);
            settings.check()
        };
        assert!(with(&|s| s.base_url = "http://127.0.0.1:4010".into()).is_ok());
        assert!(with(&|s| s.base_url = "http://api.example.com".into()).is_err());
        assert!(with(&|s| s.fast_model = "gpt-4".into()).is_err());
        assert!(with(&|s| s.max_tokens = 100_000).is_err());
        assert!(with(&|s| s.max_tokens = 0).is_err());
    }
}
