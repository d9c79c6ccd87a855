//! The "Post to ticket" form of a session: the ticket number (prefilled from the session's
//! ticket when it is one), the note's flags (internal analysis unless the engineer picks
//! others; never none), a status to set, and the note itself (the redacted preview, which the
//! engineer may edit). Checked here before anything is queued.

use rf_app_api::commands::PostToTicketArgs;
use rf_core::psa::NoteFlag;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    pub ticket: String,
    pub internal: bool,
    pub discussion: bool,
    pub resolution: bool,
    pub status: String,
    /// The note as the engineer edited it; `None` follows the preview.
    pub edited: Option<String>,
    /// Record the session's time as a time entry with the note.
    pub record_time: bool,
}

/// A session's ticket as a ConnectWise ticket number, when it reads as one (`48213`,
/// `#48213`, `CW-48213`).
pub fn ticket_number(ticket: &str) -> Option<i64> {
    let digits: String = ticket
        .trim()
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .to_owned();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|number| *number > 0)
}

impl PostForm {
    pub fn new(session_ticket: &str) -> PostForm {
        PostForm {
            ticket: ticket_number(session_ticket)
                .map(|number| number.to_string())
                .unwrap_or_default(),
            internal: true,
            discussion: false,
            resolution: false,
            status: String::new(),
            edited: None,
            record_time: false,
        }
    }

    pub fn flags(&self) -> Vec<NoteFlag> {
        [
            (self.internal, NoteFlag::Internal),
            (self.discussion, NoteFlag::Discussion),
            (self.resolution, NoteFlag::Resolution),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect()
    }

    /// The text to post: the edited one, else the preview.
    pub fn text<'a>(&'a self, preview: &'a str) -> &'a str {
        self.edited.as_deref().unwrap_or(preview)
    }

    /// The request, or what to fix first.
    pub fn request(
        &self,
        session_id: Uuid,
        preview: &str,
        redacted: bool,
        again: bool,
        time: Option<rf_core::psa::PostTime>,
    ) -> Result<PostToTicketArgs, String> {
        let ticket_id = ticket_number(&self.ticket)
            .ok_or_else(|| "Give the ConnectWise ticket number, like 48213.".to_owned())?;
        let flags = self.flags();
        if flags.is_empty() {
            return Err(
                "Choose how the note shows on the ticket: internal, discussion or resolution."
                    .into(),
            );
        }
        let text = self.text(preview);
        if text.trim().is_empty() {
            return Err("The note is empty.".into());
        }
        let status = self.status.trim();
        Ok(PostToTicketArgs {
            session_id,
            ticket_id,
            flags,
            status: (!status.is_empty()).then(|| status.to_owned()),
            text: text.to_owned(),
            // An edited note is what the engineer wrote, whatever the preview was.
            redacted: redacted && self.edited.is_none(),
            again,
            time: time.filter(|_| self.record_time),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ticket_prefills_the_number_when_it_reads_as_one() {
        for (ticket, number) in [
            ("48213", Some(48213)),
            ("#48213", Some(48213)),
            ("CW-48213", Some(48213)),
            (" 7 ", Some(7)),
            ("0", None),
            ("INC-12a", None),
            ("", None),
            ("99999999999999999999999", None),
        ] {
            assert_eq!(ticket_number(ticket), number, "{ticket:?}");
        }
        assert_eq!(PostForm::new("#48213").ticket, "48213");
        assert_eq!(PostForm::new("printer jam").ticket, "");
    }

    #[test]
    fn the_request_is_checked_and_never_has_no_flag() {
        let id = Uuid::nil();
        let mut form = PostForm::new("48213");
        let request = form.request(id, "preview", true, false, None).unwrap();
        assert_eq!(request.flags, vec![NoteFlag::Internal]);
        assert_eq!(request.text, "preview");
        assert!(request.redacted);
        assert_eq!(request.status, None);

        form.internal = false;
        assert!(form.request(id, "preview", true, false, None).is_err());
        form.resolution = true;
        form.status = " Completed ".into();
        form.edited = Some("my own words".into());
        let request = form.request(id, "preview", true, false, None).unwrap();
        assert_eq!(request.flags, vec![NoteFlag::Resolution]);
        assert_eq!(request.status.as_deref(), Some("Completed"));
        assert_eq!(request.text, "my own words");
        assert!(
            !request.redacted,
            "an edited note is not the redacted preview"
        );

        form.ticket = "abc".into();
        assert!(form.request(id, "preview", true, false, None).is_err());
        form.ticket = "5".into();
        form.edited = Some("  ".into());
        assert!(form.request(id, "preview", true, false, None).is_err());
    }
}
