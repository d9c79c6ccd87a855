//! Memory of the real `rf-sync-server serve` under bursts of concurrent wrong logins: each
//! password check is argon2id with 19 MiB, so without a cap a burst of 200 held about 3 GB.
//! Three bursts of 200 logins, each from its own loopback address (127.0.x.y, so the
//! per-address login limits stay out of the way and the password cap is what acts), and the
//! server's VmRSS and VmHWM (from /proc) before, after each burst, and after a quiet pause.
//!
//! `RF_BURST_SERVER_BIN=/path/to/rf-sync-server` measures another build of the server (the
//! figures in docs/PERFORMANCE.md compare the one before the cap); its limits are not
//! asserted, only printed.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BURST: usize = 200;
const BURSTS: usize = 3;

/// (VmRSS, VmHWM) of a process, in MiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .expect("a field of /proc/PID/status")
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The loopback address of the `index`th client: 127.0.1.1, 127.0.1.2, …
fn source(index: usize) -> IpAddr {
    let index = u32::try_from(index).unwrap();
    IpAddr::V4(Ipv4Addr::from(
        0x7F00_0101 + index / 250 * 256 + index % 250,
    ))
}

#[tokio::test]
async fn a_burst_of_wrong_logins_leaves_memory_flat() {
    let data = tempfile::tempdir().unwrap();
    common::add_user(data.path(), "ada@litware.example", "Litware", "engineer");
    let other_build = std::env::var_os("RF_BURST_SERVER_BIN").map(PathBuf::from);
    let binary = other_build
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rf-sync-server")));
    let mut server = Command::new(&binary)
        .arg("--data-dir")
        .arg(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RF_LOG", "info")
        .env("NO_COLOR", "1")
        // Two hashes at once, eight waiting, on any machine (a build without the settings
        // ignores them).
        .env("RF_PASSWORD_PERMITS", "2")
        .env("RF_PASSWORD_QUEUE", "8")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(server.stderr.take().unwrap()).lines();
    let address = loop {
        let line = log.next().expect("the server exited").unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // The log is drained so the server never blocks writing it.
    std::thread::spawn(move || log.for_each(drop));
    let pid = server.id();
    let clients: Vec<reqwest::Client> = (0..BURST)
        .map(|index| {
            reqwest::Client::builder()
                .local_address(source(index))
                .build()
                .unwrap()
        })
        .collect();
    let url = format!("http://{address}/api/v1/auth/login");
    // One right login first, so the idle figure includes what any login loads.
    let response = clients[0]
        .post(&url)
        .json(&serde_json::json!({"email": "ada@litware.example", "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let (idle_rss, idle_peak) = memory(pid);
    eprintln!("binary {}", binary.display());
    eprintln!("idle: VmRSS {idle_rss} MiB, VmHWM {idle_peak} MiB");

    let mut after = Vec::new();
    for burst in 1..=BURSTS {
        let started = Instant::now();
        let attempts = clients.iter().map(|client| {
            client
                .post(&url)
                .json(&serde_json::json!({"email": "ada@litware.example", "password": "wrong password, surely"}))
                .send()
        });
        let responses = futures_util::future::join_all(attempts).await;
        let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
        for response in responses {
            *statuses
                .entry(response.unwrap().status().as_u16())
                .or_default() += 1;
        }
        let (rss, peak) = memory(pid);
        eprintln!(
            "burst {burst}: {BURST} logins in {:.1} s, answers {statuses:?}; VmRSS {rss} MiB, VmHWM {peak} MiB",
            started.elapsed().as_secs_f64()
        );
        after.push((rss, peak, statuses));
    }
    // Long enough for idle blocking threads to exit (tokio keeps them 10 s).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (quiet_rss, quiet_peak) = memory(pid);
    eprintln!("12 s later: VmRSS {quiet_rss} MiB, VmHWM {quiet_peak} MiB");

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = server.wait();
    if other_build.is_some() {
        return;
    }
    for (rss, peak, statuses) in &after {
        // Wrong passwords (401) or the cap's 503; nothing else.
        assert!(
            statuses.keys().all(|status| [401, 503].contains(status)),
            "{statuses:?}"
        );
        assert!(
            *peak < idle_peak + 200,
            "peak {peak} MiB, idle {idle_peak} MiB"
        );
        assert!(
            *rss < idle_rss + 200,
            "after a burst {rss} MiB, idle {idle_rss} MiB"
        );
    }
    assert!(quiet_rss < idle_rss + 200);
}
