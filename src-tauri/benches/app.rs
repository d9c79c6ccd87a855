//! The desktop app's figures (docs/PERFORMANCE.md, "The desktop app"), from the real app, built
//! with the bench profile, in its real WebKit webview under a private Xvfb display:
//!
//! - cold start: a new process to its first screen rendered and the window shown;
//! - idle memory: PSS (`/proc/PID/smaps_rollup`) summed over the app and every process under it
//!   (WebKit's web and network processes), after 10 s at the home screen, beside an empty Tauri
//!   window measured the same way in the same run;
//! - a deep link given to a second launch, to the start screen painted; then Enter to the first
//!   step painted;
//! - a number key to the next step painted.
//!
//! Run: `./dev ui && cargo bench -p resolutionflow --bench app`. Not criterion: each sample is a
//! whole app or a whole keystroke round trip through WebDriver, so this prints every sample
//! and their median. Page-side times come from the page's own clock (the key event's
//! timestamp to a frame after the DOM changed), so WebDriver's latency is not counted in them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![forbid(unsafe_code)]

#[allow(dead_code)] // The end-to-end tests' harness: this uses part of it.
#[path = "../tests/it/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rf_tests::device::Device;
use serde_json::Value;

use harness::{App, Group, PATIENCE};

const APP: &str = env!("CARGO_BIN_EXE_resolutionflow");
const STARTS: usize = 5;
const ROUNDS: usize = 5;
const IDLE: Duration = Duration::from_secs(10);
const FLOW: &str = "DNS name resolution failure";
/// A path through the DNS flow by number keys (as the end-to-end test walks it).
const ANSWERS: [&str; 3] = ["2", "1", "1"];

fn main() {
    if std::env::args().any(|arg| arg == "--empty-window") {
        empty_window();
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

/// The floor: a Tauri window with a static page and nothing else (this bench's own binary,
/// started again with `--empty-window`).
fn empty_window() {
    tauri::Builder::default()
        .run(tauri::generate_context!(
            "benches/empty-window/tauri.conf.json"
        ))
        .unwrap();
}

async fn bench() {
    let laptop = Device::new();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples/flows");
    for entry in std::fs::read_dir(&samples).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".flow.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            laptop.import(rf_core::Flow::parse(&text).unwrap()).await;
        }
    }
    let env = [
        ("RF_DATA_DIR", laptop.path().display().to_string()),
        ("RF_TOKEN_STORE", "file".to_string()),
    ];

    let (_display, display) = harness::start_display();
    let bus = SessionBus::start();

    println!("cold start to the first screen shown ({STARTS} starts, a new process each):");
    let mut starts = Vec::new();
    for _ in 0..STARTS {
        let (app, took) = start_direct(Command::new(APP), &env, &display, &bus);
        println!("  {} ms", took.as_millis());
        starts.push(took.as_secs_f64() * 1000.0);
        drop(app);
    }
    println!("  median {:.0} ms", median(&mut starts));

    println!("idle memory after {IDLE:?} at rest:");
    let (app, _) = start_direct(Command::new(APP), &env, &display, &bus);
    std::thread::sleep(IDLE);
    let ours = Memory::of_tree(app.0.id());
    drop(app);
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.arg("--empty-window");
    let empty = start_empty(command, &display, &bus);
    std::thread::sleep(IDLE);
    let floor = Memory::of_tree(empty.0.id());
    drop(empty);
    println!("  the app:            {ours}");
    println!("  empty Tauri window: {floor}");
    println!(
        "  the app's PSS is {:.2}× the empty window's",
        ours.pss_kib as f64 / floor.pss_kib as f64
    );

    let driven = App::start(&env, &[]).await;
    driven.wait_for("#home").await;
    let app_pid = pid_of(APP).expect("the app under tauri-driver");
    let bus_address = environment_of(app_pid, "DBUS_SESSION_BUS_ADDRESS")
        .expect("the app's D-Bus session address");
    let mut links = Vec::new();
    let mut firsts = Vec::new();
    let mut keys = Vec::new();
    println!(
        "deep link (a second launch) to the start screen painted; Enter to the first step painted; number keys to the next step painted:"
    );
    for round in 0..ROUNDS {
        watch_for_start_screen(&driven).await;
        let sent = epoch_ms();
        let link = format!(
            "resolutionflow://run/{}?ticket=BENCH-{round}&client=Acme\
             &var.lookup_name=intranet.acme.local&var.dns_server=10.0.0.10",
            FLOW.replace(' ', "%20")
        );
        let status = Command::new(APP)
            .arg(&link)
            .env("DISPLAY", &driven.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
            .env("RF_LOG", "error")
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .status()
            .unwrap();
        assert!(status.success(), "the second launch failed: {status}");
        let painted = wait_for_number(&driven, "window.__rfStartPainted").await;
        links.push(painted - sent);
        driven.wait_for("#ticket").await.click().await.unwrap();
        watch_next_step(&driven).await;
        driven.press("\u{E007}").await;
        firsts.push(wait_for_number(&driven, "window.__rfStepPainted").await);
        for key in ANSWERS {
            watch_next_step(&driven).await;
            driven.press(key).await;
            keys.push(wait_for_number(&driven, "window.__rfStepPainted").await);
        }
        println!(
            "  round {round}: link {:.0} ms, Enter {:.1} ms, keys {}",
            links[round],
            firsts[round],
            keys[round * ANSWERS.len()..]
                .iter()
                .map(|ms| format!("{ms:.1} ms"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "  median: link {:.0} ms, Enter {:.1} ms, key {:.1} ms (max {:.1} ms)",
        median(&mut links),
        median(&mut firsts),
        median(&mut keys.clone()),
        keys.iter().cloned().fold(0.0, f64::max)
    );
    driven.client.clone().close().await.unwrap();
    bus.stop();
}

/// A D-Bus session of the bench's own (the single instance needs one).
struct SessionBus {
    address: String,
    pid: u32,
}

impl SessionBus {
    fn start() -> SessionBus {
        let output = Command::new("dbus-launch")
            .arg("--sh-syntax")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        // NAME='value'; or NAME=value; (the pid is not quoted).
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{name}=")))
                .map(|rest| rest.trim_end_matches(';').trim_matches('\'').to_string())
                .unwrap_or_else(|| panic!("dbus-launch said {text:?}"))
        };
        SessionBus {
            address: value("DBUS_SESSION_BUS_ADDRESS"),
            pid: value("DBUS_SESSION_BUS_PID").parse().unwrap(),
        }
    }

    fn stop(&self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

/// Starts an app in a process group of its own with `RF_LOG=info`, and waits for its line
/// "first screen shown": answers the group and how long that took from the spawn.
fn start_direct(
    mut command: Command,
    env: &[(&str, String)],
    display: &str,
    bus: &SessionBus,
) -> (Group, Duration) {
    let started = Instant::now();
    let mut child = command
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
        .env("DISPLAY", display)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .env("RF_LOG", "resolutionflow=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let group = Group(child);
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the app ended before its first screen"))
            .unwrap();
        if line.contains("first screen shown") {
            let took = started.elapsed();
            // Keep reading, so the app never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (group, took);
        }
    }
}

/// Starts the empty window and waits until X maps it.
fn start_empty(mut command: Command, display: &str, bus: &SessionBus) -> Group {
    let child = command
        .env("DISPLAY", display)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Group(child);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", "Empty Tauri window"])
            .env("DISPLAY", display)
            .output()
            .unwrap();
        if found.status.success() {
            return group;
        }
        assert!(Instant::now() < deadline, "the empty window never showed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Memory of a process and every process under it.
struct Memory {
    processes: usize,
    pss_kib: u64,
    rss_kib: u64,
}

impl Memory {
    fn of_tree(root: u32) -> Memory {
        let tree = descendants(root);
        let mut memory = Memory {
            processes: 0,
            pss_kib: 0,
            rss_kib: 0,
        };
        for pid in tree {
            let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
                continue;
            };
            memory.processes += 1;
            memory.pss_kib += field_kib(&rollup, "Pss:");
            memory.rss_kib += field_kib(&rollup, "Rss:");
        }
        memory
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} processes, {:.0} MiB PSS ({:.0} MiB if RSS is summed)",
            self.processes,
            self.pss_kib as f64 / 1024.0,
            self.rss_kib as f64 / 1024.0
        )
    }
}

fn field_kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// `root` and every process whose parent chain leads to it.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may hold spaces: the parent follows it.
            let after = stat.rsplit_once(')')?.1;
            let parent = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, parent) in &parents {
            if tree.contains(parent) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    tree
}

/// The newest process running `program`.
fn pid_of(program: &str) -> Option<u32> {
    let wanted = Path::new(program).canonicalize().ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == wanted))
        .max()
}

fn environment_of(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|byte| *byte == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(&format!("{name}=")).map(str::to_string)
    })
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Records in `window.__rfStartPainted` the wall clock (ms) of the first frame after the start
/// screen appears.
async fn watch_for_start_screen(app: &App) {
    app.client
        .execute(
            r#"
            window.__rfStartPainted = null;
            const observer = new MutationObserver(() => {
                if (document.querySelector('#start #ticket')) {
                    observer.disconnect();
                    requestAnimationFrame(() => setTimeout(() => {
                        window.__rfStartPainted = Date.now();
                    }));
                }
            });
            observer.observe(document.body, { subtree: true, childList: true });
            "#,
            vec![],
        )
        .await
        .unwrap();
}

/// Records in `window.__rfStepPainted` the ms from the next key's event timestamp to the first
/// frame after the runner shows a different step.
async fn watch_next_step(app: &App) {
    app.client
        .execute(
            r#"
            window.__rfStepPainted = null;
            const title = document.querySelector('#step-title');
            const before = title ? title.textContent : null;
            let pressed = null;
            document.addEventListener('keydown', (event) => { pressed = event.timeStamp; },
                { capture: true, once: true });
            const observer = new MutationObserver(() => {
                const now = document.querySelector('#step-title');
                if (pressed !== null && now && now.textContent !== before) {
                    observer.disconnect();
                    requestAnimationFrame(() => setTimeout(() => {
                        window.__rfStepPainted = performance.now() - pressed;
                    }));
                }
            });
            observer.observe(document.body, { subtree: true, childList: true, characterData: true });
            "#,
            vec![],
        )
        .await
        .unwrap();
}

async fn wait_for_number(app: &App, expression: &str) -> f64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = app
            .client
            .execute(&format!("return {expression};"), vec![])
            .await
            .unwrap();
        if let Value::Number(number) = value {
            return number.as_f64().unwrap();
        }
        assert!(Instant::now() < deadline, "{expression} never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
