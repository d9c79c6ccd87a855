//! The settings screen's sign-in form, checked here before anything is sent.

use std::collections::BTreeMap;

use rf_app_api::commands::LogInArgs;

/// What the engineer typed to sign in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginForm {
    pub server_url: String,
    pub email: String,
    pub password: String,
}

impl LoginForm {
    /// The form, the server and e-mail prefilled from the account this replica last used.
    pub fn for_account(server_url: Option<&str>, email: Option<&str>) -> LoginForm {
        LoginForm {
            server_url: server_url.unwrap_or_default().to_owned(),
            email: email.unwrap_or_default().to_owned(),
            password: String::new(),
        }
    }

    /// The request to send, or per field (`server_url`, `email`, `password`) what is wrong.
    pub fn request(&self) -> Result<LogInArgs, BTreeMap<&'static str, String>> {
        let mut problems = BTreeMap::new();
        let server_url = self.server_url.trim().trim_end_matches('/');
        let scheme = server_url
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            _ if server_url.is_empty() => {
                problems.insert("server_url", "Give the sync server's address".to_owned());
            }
            Some("http" | "https") => {}
            _ => {
                problems.insert(
                    "server_url",
                    "Give the whole address, starting with https:// (or http:// on a trusted network)"
                        .to_owned(),
                );
            }
        }
        let email = self.email.trim();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            problems.insert(
                "email",
                "Give the e-mail address of your account".to_owned(),
            );
        }
        if self.password.is_empty() {
            problems.insert("password", "Give your password".to_owned());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LogInArgs {
            server_url: server_url.to_owned(),
            email: email.to_owned(),
            password: self.password.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_form_is_sent_trimmed() {
        let form = LoginForm {
            server_url: " https://sync.contoso.example/ ".into(),
            email: " ada@contoso.example ".into(),
            password: " spaces count in passwords ".into(),
        };
        let request = form.request().unwrap();
        assert_eq!(request.server_url, "https://sync.contoso.example");
        assert_eq!(request.email, "ada@contoso.example");
        assert_eq!(request.password, " spaces count in passwords ");
    }

    #[test]
    fn every_missing_or_malformed_field_is_named() {
        let problems = LoginForm::default().request().unwrap_err();
        assert_eq!(
            problems.keys().copied().collect::<Vec<_>>(),
            ["email", "password", "server_url"]
        );
        let form = LoginForm {
            server_url: "sync.contoso.example".into(),
            email: "ada@".into(),
            password: "x".into(),
        };
        let problems = form.request().unwrap_err();
        assert!(problems["server_url"].contains("https://"), "{problems:?}");
        assert!(problems.contains_key("email"));
        assert!(!problems.contains_key("password"));
        let ftp = LoginForm {
            server_url: "ftp://sync.contoso.example".into(),
            ..form
        };
        assert!(ftp.request().unwrap_err().contains_key("server_url"));
    }

    #[test]
    fn the_last_account_is_prefilled_but_never_a_password() {
        let form = LoginForm::for_account(Some("http://127.0.0.1:8787"), Some("dev@example.com"));
        assert_eq!(form.server_url, "http://127.0.0.1:8787");
        assert_eq!(form.email, "dev@example.com");
        assert!(form.password.is_empty());
    }
}
