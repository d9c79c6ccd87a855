//! `rf psa` against a real sync server in front of the ConnectWise stand-in (Prism serving the
//! vendor's spec): a team admin connects the team with the private key from the environment,
//! anyone in the team looks up a ticket and lists members, and the key is never printed nor
//! kept on the device.

use std::path::Path;
use std::process::{Command, Output};

use rf_tests::vendors::{ConnectWiseSite, vendor_config};
use rf_tests::{Backend, PASSWORD, TestServer};

const PRIVATE_KEY: &str = "S3cr3t-Priv/9";

fn rf(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rf"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RF_TOKEN_STORE", "file")
        .env("RF_PASSWORD", PASSWORD)
        .env("RF_PSA_PRIVATE_KEY", PRIVATE_KEY)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Every byte of every file under `dir`.
fn holds(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        if path.is_dir() {
            holds(&path, needle)
        } else {
            std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|window| window == needle)
        }
    })
}

#[test]
fn a_team_admin_connects_and_engineers_look_up_tickets_without_ever_holding_the_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start_with(Backend::Sqlite, vendor_config()));
    let site = runtime.block_on(ConnectWiseSite::start("contoso"));
    let work = tempfile::tempdir().unwrap();
    let (tia, ada, eve) = (
        work.path().join("tia"),
        work.path().join("ada"),
        work.path().join("eve"),
    );
    for (dir, email) in [
        (&tia, "tia@contoso.example"),
        (&ada, "ada@contoso.example"),
        (&eve, "eve@fabrikam.example"),
    ] {
        let login = rf(dir, &["login", "--server", &server.base, "--email", email]);
        assert!(login.status.success(), "{}", text(&login));
    }
    let connect_args = [
        "psa",
        "connect",
        "--site",
        &site.site,
        "--company",
        "contoso",
        "--public-key",
        "PubKey1234",
    ];

    // An engineer cannot connect the team.
    let refused = rf(&ada, &connect_args);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only team admins"),
        "{}",
        text(&refused)
    );

    let connected = rf(&tia, &connect_args);
    assert!(connected.status.success(), "{}", text(&connected));
    let said = text(&connected);
    assert!(
        said.contains(&format!("ConnectWise: {}", site.api_url)),
        "{said}"
    );
    assert!(said.contains("public key: …1234"), "{said}");
    assert!(said.contains("checked: ConnectWise"), "{said}");
    assert!(!said.contains(PRIVATE_KEY), "{said}");

    let shown = rf(&ada, &["psa", "show", "--json"]);
    assert!(shown.status.success(), "{}", text(&shown));
    let view: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(view["company_id"], "contoso");

    let ticket = rf(&ada, &["psa", "ticket", "123"]);
    assert!(ticket.status.success(), "{}", text(&ticket));
    let said = text(&ticket);
    for line in ["company: ", "board: ", "status: ", "priority: "] {
        assert!(said.contains(line), "{line} in {said}");
    }
    let json = rf(&ada, &["psa", "ticket", "123", "--json"]);
    let ticket: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(ticket["id"].is_i64(), "{ticket}");

    let members = rf(&tia, &["psa", "members"]);
    assert!(members.status.success(), "{}", text(&members));
    assert!(text(&members).starts_with("MEMBER"), "{}", text(&members));

    // Another team is not connected, and is told what to do.
    let other = rf(&eve, &["psa", "ticket", "123"]);
    assert!(!other.status.success());
    assert!(text(&other).contains("rf psa connect"), "{}", text(&other));

    // The key went to the server once and stays there: no device holds it.
    for dir in [&tia, &ada, &eve] {
        assert!(!holds(dir, PRIVATE_KEY.as_bytes()), "{}", dir.display());
    }
    site.assert_no_violations();
    runtime.block_on(server.stop());
}
