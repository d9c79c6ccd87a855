//! The `rf-sync-server user` commands as an administrator runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::process::Command;

use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

#[test]
fn administrators_add_and_list_users_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rf-sync-server"));
        command
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .env("RF_LOG", "warn");
        match password {
            Some(password) => command.env("RF_PASSWORD", password),
            None => command.env_remove("RF_PASSWORD"),
        };
        command.output().unwrap()
    };
    let added = run(
        &[
            "user",
            "add",
            "--email",
            "lead@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "team_admin",
        ],
        Some(PASSWORD),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let twice = run(
        &[
            "user",
            "add",
            "--email",
            "LEAD@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "engineer",
        ],
        Some(PASSWORD),
    );
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));
    let weak = run(
        &[
            "user",
            "add",
            "--email",
            "new@contoso.example",
            "--team",
            "Contoso MSP",
            "--role",
            "viewer",
        ],
        Some("short"),
    );
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12 characters"));
    let bad_role = run(
        &[
            "user",
            "add",
            "--email",
            "x@contoso.example",
            "--team",
            "T",
            "--role",
            "god",
        ],
        Some(PASSWORD),
    );
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
    let no_password = run(
        &[
            "user",
            "add",
            "--email",
            "y@contoso.example",
            "--team",
            "T",
            "--role",
            "viewer",
        ],
        None,
    );
    assert!(
        !no_password.status.success(),
        "no RF_PASSWORD and no terminal: refused"
    );
    // A control character is no part of an e-mail (and PostgreSQL text cannot hold NUL).
    let control = run(
        &[
            "user",
            "add",
            "--email",
            "z\u{1}@contoso.example",
            "--team",
            "T",
            "--role",
            "viewer",
        ],
        Some(PASSWORD),
    );
    assert!(String::from_utf8_lossy(&control.stderr).contains("is not an e-mail address"));
    let listed = run(&["user", "list", "--json"], None);
    let users: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(
        (users[0]["email"].as_str(), users[0]["role"].as_str()),
        (Some("lead@contoso.example"), Some("team_admin"))
    );
}
