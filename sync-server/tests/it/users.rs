//! The `rf-sync-server user` commands as an administrator runs them: add, list, set-role, remove.

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

#[test]
fn administrators_change_roles_and_remove_users_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rf-sync-server"))
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .env("RF_LOG", "warn")
            .env("RF_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    };
    let stderr =
        |output: &std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();
    for (email, role) in [
        ("lead@contoso.example", "team_admin"),
        ("ada@contoso.example", "engineer"),
    ] {
        let added = run(&[
            "user",
            "add",
            "--email",
            email,
            "--team",
            "Contoso MSP",
            "--role",
            role,
        ]);
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let listed = |run: &dyn Fn(&[&str]) -> std::process::Output| -> Vec<(String, String)> {
        let users: Value =
            serde_json::from_slice(&run(&["user", "list", "--json"]).stdout).unwrap();
        users
            .as_array()
            .unwrap()
            .iter()
            .map(|user| {
                (
                    user["email"].as_str().unwrap().to_owned(),
                    user["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let changed = run(&[
        "user",
        "set-role",
        "--email",
        "ADA@contoso.example",
        "--role",
        "viewer",
    ]);
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("\tviewer"));
    let bad_role = run(&[
        "user",
        "set-role",
        "--email",
        "ada@contoso.example",
        "--role",
        "god",
    ]);
    assert!(stderr(&bad_role).contains("unknown role"));
    let unknown = run(&[
        "user",
        "set-role",
        "--email",
        "nobody@contoso.example",
        "--role",
        "viewer",
    ]);
    assert!(!unknown.status.success());
    assert!(stderr(&unknown).contains("there is no account"));
    assert_eq!(
        listed(&run),
        [
            ("ada@contoso.example".to_owned(), "viewer".to_owned()),
            ("lead@contoso.example".to_owned(), "team_admin".to_owned()),
        ]
    );

    // A removed account is no longer listed, cannot be removed again, and keeps its e-mail.
    let removed = run(&["user", "remove", "--email", "ada@contoso.example"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert_eq!(
        listed(&run),
        [("lead@contoso.example".to_owned(), "team_admin".to_owned())]
    );
    let again = run(&["user", "remove", "--email", "ada@contoso.example"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("there is no account"));
    let re_added = run(&[
        "user",
        "add",
        "--email",
        "ada@contoso.example",
        "--team",
        "Contoso MSP",
        "--role",
        "engineer",
    ]);
    assert!(stderr(&re_added).contains("already exists"));
    let connection = rusqlite::Connection::open(data.path().join("server.sqlite3")).unwrap();
    let disabled: i64 = connection
        .query_row(
            "SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(disabled, 1, "the row stays, marked removed");
}
