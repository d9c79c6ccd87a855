//! Server-sent events (the `text/event-stream` format of the HTML standard) read as they
//! arrive: bytes in, whole events out. The sync server reads Anthropic's stream with it, and
//! replicas read the sync server's FlowPilot stream with it. No IO.

/// One event: its type (`message` when the stream names none) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The most bytes one event may hold before the stream is called malformed: a stream that
/// never ends an event must not grow without bound.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Reads events from chunks as they come (a chunk may hold part of an event or several).
#[derive(Debug, Default)]
pub struct SseReader {
    pending: Vec<u8>,
    /// How far `pending` is known to hold no blank line (so a long event arriving in small
    /// chunks is scanned once, not once per chunk).
    scanned: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event in the stream is larger than {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

impl SseReader {
    pub fn new() -> SseReader {
        SseReader::default()
    }

    /// The events `chunk` completes, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        // A separator may straddle the chunks: look again from up to three bytes back.
        let mut from = self.scanned.saturating_sub(3);
        while let Some((end, separator)) = event_end(&self.pending, from) {
            let block: Vec<u8> = self.pending.drain(..end + separator).collect();
            if let Some(event) = parse_block(&block[..end]) {
                events.push(event);
            }
            from = 0;
        }
        self.scanned = self.pending.len();
        if self.pending.len() > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        Ok(events)
    }
}

/// Where the first event in `bytes` ends (a blank line: `\n\n`, `\r\n\r\n` or `\r\r`) and how
/// long its separator is.
fn event_end(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    while at < bytes.len() {
        for separator in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if bytes[at..].starts_with(separator) {
                return Some((at, separator.len()));
            }
        }
        at += 1;
    }
    None
}

fn parse_block(block: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(block);
    let mut event = None;
    let mut data: Option<String> = None;
    for line in text.split(['\n', '\r']) {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    // An event without data is not dispatched (the standard's rule).
    let data = data?;
    Some(SseEvent {
        event: event.unwrap_or_else(|| "message".to_owned()),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_across_any_split_and_line_ending() {
        let stream = "event: ping\ndata: {}\n\n: a comment\n\nevent: delta\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: plain\n\nevent: nodata\n\n";
        let expected = vec![
            SseEvent {
                event: "ping".into(),
                data: "{}".into(),
            },
            SseEvent {
                event: "delta".into(),
                data: "{\"a\":\n1}".into(),
            },
            SseEvent {
                event: "message".into(),
                data: "plain".into(),
            },
        ];
        for split in 0..stream.len() {
            let mut reader = SseReader::new();
            let mut events = reader.push(&stream.as_bytes()[..split]).unwrap();
            events.extend(reader.push(&stream.as_bytes()[split..]).unwrap());
            assert_eq!(events, expected, "split at {split}");
        }
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        for byte in stream.as_bytes() {
            events.extend(reader.push(&[*byte]).unwrap());
        }
        assert_eq!(events, expected);
    }

    #[test]
    fn an_event_that_never_ends_is_refused_not_kept() {
        let mut reader = SseReader::new();
        let chunk = vec![b'x'; 64 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..20 {
            result = reader.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventTooLarge));
    }
}
