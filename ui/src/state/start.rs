//! The start screen's form: ticket, client and the flow's intake fields, with required ones
//! checked here before anything is sent.

use std::collections::BTreeMap;

use rf_app_api::StartSession;
use rf_core::flow::IntakeField;
use uuid::Uuid;

/// What the engineer typed on the start screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartForm {
    pub ticket: String,
    pub client: String,
    pub variables: BTreeMap<String, String>,
}

impl StartForm {
    /// Fills the client from a ConnectWise ticket (its company's name, else its identifier).
    pub fn fill_from_ticket(&mut self, ticket: &rf_core::psa::TicketSummary) {
        if let Some(company) = &ticket.company {
            let given = |name: &Option<String>| {
                name.as_deref()
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
            };
            let name = given(&company.name).or_else(|| given(&company.identifier));
            if let Some(name) = name {
                self.client = name;
            }
        }
    }

    /// The form for `intake`, prefilled from a link, then from each field's default.
    pub fn prefilled(
        intake: &[IntakeField],
        ticket: &str,
        client: &str,
        given: &BTreeMap<String, String>,
    ) -> StartForm {
        let variables = intake
            .iter()
            .map(|field| {
                let value = given
                    .get(&field.name)
                    .cloned()
                    .or_else(|| field.default.clone())
                    .unwrap_or_default();
                (field.name.clone(), value)
            })
            .collect();
        StartForm {
            ticket: ticket.to_owned(),
            client: client.to_owned(),
            variables,
        }
    }

    /// The id of the element the cursor starts in: the first field still empty in the form's
    /// order (ticket, client, then the intake in the flow's order), else the start button.
    pub fn first_to_fill(&self, intake: &[IntakeField]) -> String {
        if self.ticket.trim().is_empty() {
            return "ticket".into();
        }
        if self.client.trim().is_empty() {
            return "client".into();
        }
        intake
            .iter()
            .find(|field| {
                self.variables
                    .get(&field.name)
                    .is_none_or(|value| value.trim().is_empty())
            })
            .map_or_else(
                || "start-session".into(),
                |field| format!("var-{}", field.name),
            )
    }

    /// The request to send, or per field (`ticket`, `var.NAME`) what is missing.
    pub fn request(
        &self,
        flow_id: Uuid,
        intake: &[IntakeField],
    ) -> Result<StartSession, BTreeMap<String, String>> {
        let mut problems = BTreeMap::new();
        for field in intake.iter().filter(|field| field.required) {
            let value = self.variables.get(&field.name).map(|v| v.trim());
            if value.is_none_or(str::is_empty) {
                problems.insert(
                    format!("var.{}", field.name),
                    format!("{} is required to start this flow", field.label),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(StartSession {
            flow_id,
            ticket: self.ticket.trim().to_owned(),
            client: self.client.trim().to_owned(),
            variables: self
                .variables
                .iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .map(|(name, value)| (name.clone(), value.trim().to_owned()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_from_connectwise_fills_the_client() {
        use rf_core::psa::{TicketCompany, TicketSummary};
        let mut form = StartForm {
            client: "typed".into(),
            ..StartForm::default()
        };
        let mut ticket = TicketSummary {
            id: 48213,
            summary: "VPN down".into(),
            company: Some(TicketCompany {
                id: Some(5),
                identifier: Some("ACME".into()),
                name: Some("Acme Dental".into()),
            }),
            contact: None,
            contact_email: None,
            board: None,
            status: None,
            priority: None,
            closed: false,
        };
        form.fill_from_ticket(&ticket);
        assert_eq!(form.client, "Acme Dental");
        ticket.company.as_mut().unwrap().name = Some(" ".into());
        form.fill_from_ticket(&ticket);
        assert_eq!(form.client, "ACME");
        ticket.company = None;
        form.fill_from_ticket(&ticket);
        assert_eq!(form.client, "ACME", "nothing to fill keeps what is there");
    }

    #[test]
    fn the_cursor_starts_in_the_first_empty_field_in_the_flows_order() {
        // Listed in the flow's order, which is not the alphabet's.
        let intake = [
            field("lookup_name", true, None),
            field("dns_server", true, None),
        ];
        let mut form = StartForm::prefilled(&intake, "", "", &BTreeMap::new());
        assert_eq!(form.first_to_fill(&intake), "ticket");
        form.ticket = "T-77".into();
        assert_eq!(form.first_to_fill(&intake), "client");
        form.client = "Acme".into();
        assert_eq!(form.first_to_fill(&intake), "var-lookup_name");
        form.variables
            .insert("lookup_name".into(), "intranet".into());
        assert_eq!(form.first_to_fill(&intake), "var-dns_server");
        form.variables
            .insert("dns_server".into(), "10.0.0.10".into());
        assert_eq!(form.first_to_fill(&intake), "start-session");
    }

    fn field(name: &str, required: bool, default: Option<&str>) -> IntakeField {
        IntakeField {
            name: name.into(),
            label: format!("The {name}"),
            required,
            default: default.map(str::to_owned),
            extra: Default::default(),
        }
    }

    #[test]
    fn required_fields_are_enforced_before_sending() {
        let intake = [field("server", true, None), field("share", false, None)];
        let mut form = StartForm::prefilled(&intake, "T-1", "Acme", &BTreeMap::new());
        let problems = form.request(Uuid::nil(), &intake).unwrap_err();
        assert_eq!(
            problems.get("var.server").map(String::as_str),
            Some("The server is required to start this flow")
        );
        assert!(!problems.contains_key("var.share"));

        form.variables.insert("server".into(), "  fs01 ".into());
        let request = form.request(Uuid::nil(), &intake).unwrap();
        assert_eq!(request.ticket, "T-1");
        assert_eq!(
            request.variables,
            [("server".to_string(), "fs01".to_string())].into()
        );
    }

    #[test]
    fn links_prefill_before_defaults() {
        let intake = [
            field("server", true, Some("dc01")),
            field("port", false, Some("443")),
        ];
        let given = [("server".to_string(), "dc02".to_string())].into();
        let form = StartForm::prefilled(&intake, "", "", &given);
        assert_eq!(form.variables["server"], "dc02");
        assert_eq!(form.variables["port"], "443");
    }
}
