//! `rf targets`, `rf batch`, `rf schedule`, `rf due` and `rf session handoff` end to end, as an
//! engineer patching a client's servers would use them: what they see, and that every refusal
//! leaves the replica as it was and exits with the documented code.

use std::path::{Path, PathBuf};
use std::process::Command;

use rf_tests::{Backend, PASSWORD, TestServer};
use serde_json::Value;

/// The exit code of refused input (`EXIT_INVALID` in the binary).
const EXIT_INVALID: i32 = 2;

/// The id of `samples/flows/monthly-server-patching.flow.json`.
const PATCHING: &str = "dfffe377-ce48-4594-aca9-3f9adebd3bd2";
const PATCHING_TITLE: &str = "Monthly Windows Server patching";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// One replica, driven through the real `rf` binary.
struct Rf {
    dir: PathBuf,
    /// `RF_ENGINEER`, or none to fall back to the login name.
    engineer: Option<&'static str>,
    _keep: Option<tempfile::TempDir>,
}

impl Rf {
    /// A fresh replica with an engineer's name and no login.
    fn offline() -> Rf {
        let data = tempfile::tempdir().unwrap();
        Rf {
            dir: data.path().to_owned(),
            engineer: Some("Ada Lovelace"),
            _keep: Some(data),
        }
    }

    /// A replica in `dir` that will log in; the engineer is the login name.
    fn at(dir: PathBuf) -> Rf {
        Rf {
            dir,
            engineer: None,
            _keep: None,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rf"));
        command
            .arg("--data-dir")
            .arg(&self.dir)
            .args(args)
            .env("RF_TOKEN_STORE", "file")
            .env("RF_PASSWORD", PASSWORD)
            .env_remove("RF_DATA_DIR")
            .env_remove("RF_ENGINEER");
        if let Some(engineer) = self.engineer {
            command.env("RF_ENGINEER", engineer);
        }
        let output = command.output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs and insists on success; the standard output.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "rf {args:?} failed: {}{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs and insists on a refusal of the input that says `says`; the error.
    fn refused(&self, args: &[&str], says: &str) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, EXIT_INVALID,
            "rf {args:?}: {}{}",
            run.stdout, run.stderr
        );
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(
            run.stderr.contains(says),
            "rf {args:?} should say {says:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        run.stderr
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// What the replica holds of this subject, to compare before and after a refusal.
    fn state(&self) -> [Value; 4] {
        [
            self.json(&["batch", "list", "--json"]),
            self.json(&["targets", "list", "--json"]),
            self.json(&["schedule", "list", "--json"]),
            self.json(&["session", "list", "--json"]),
        ]
    }

    fn import(&self, file: &str) {
        let path = samples().join(file);
        self.ok(&["flow", "import", path.to_str().unwrap()]);
    }
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/flows")
}

/// The id a command prints alone on its last line.
fn last_id(stdout: &str) -> String {
    let id = stdout.lines().last().unwrap_or_default().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).map(|id| id.to_string()).ok(),
        Some(id.clone()),
        "the id alone on the last line: {stdout}"
    );
    id
}

fn sample_id(file: &str) -> String {
    let text = std::fs::read_to_string(samples().join(file)).unwrap();
    let flow: Value = serde_json::from_str(&text).unwrap();
    flow["id"].as_str().unwrap().to_owned()
}

fn day(offset: i64) -> String {
    let day = time::OffsetDateTime::now_utc().date() + time::Duration::days(offset);
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The state of each target in `rf batch show --json`, by target.
fn target_states(view: &Value) -> Vec<(String, String)> {
    view["progress"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            (
                target["target"].as_str().unwrap().to_owned(),
                target["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_batch_over_a_saved_list_runs_target_by_target_and_exports_a_results_table() {
    let rf = Rf::offline();
    rf.import("monthly-server-patching.flow.json");
    assert_eq!(
        rf.ok(&["targets", "list"]),
        "no target lists yet; save one with rf targets set NAME --client C a b c\n"
    );
    assert_eq!(
        rf.ok(&["batch", "list"]),
        "no batches yet; start one with rf batch start FLOW --targets a,b,c\n"
    );

    // A saved list, in the case it was typed.
    let saved = rf.ok(&[
        "targets", "set", "Servers", "--client", "Acme", "SRV-01", "SRV-02", "srv-03",
    ]);
    assert_eq!(saved, "saved \"Servers\" for Acme (3 targets)\n");
    assert_eq!(
        rf.ok(&["targets", "list"]),
        "Acme / Servers (3): SRV-01, SRV-02, srv-03\n"
    );
    let lists = rf.json(&["targets", "list", "--json"]);
    assert_eq!(lists.as_array().unwrap().len(), 1, "{lists}");
    assert_eq!(lists[0]["client"], "Acme");
    assert_eq!(lists[0]["name"], "Servers");
    assert_eq!(
        lists[0]["targets"],
        serde_json::json!(["SRV-01", "SRV-02", "srv-03"])
    );

    // A batch over the list, named in another case; the client is the list's.
    let started = rf.ok(&[
        "batch",
        "start",
        PATCHING,
        "--target-list",
        "servers",
        "--ticket",
        "T-1",
        "--var",
        "patch_window=Sat 22:00",
    ]);
    let batch = last_id(&started);
    assert!(
        started.starts_with(&format!(
            "started a batch of \"{PATCHING_TITLE}\" over 3 targets for Acme\n"
        )),
        "{started}"
    );
    assert!(
        started.contains(&format!("rf batch run {} TARGET", &batch[..13])),
        "{started}"
    );

    // Targets typed, and targets from a file (blank lines and comments skipped).
    let typed = rf.ok(&[
        "batch",
        "start",
        "Monthly Windows Server patching",
        "--targets",
        "web-01,web-02",
        "--client",
        "Acme",
        "--var",
        "patch_window=Sun 01:00",
    ]);
    assert!(typed.contains("over 2 targets for Acme"), "{typed}");
    let typed = last_id(&typed);
    let shown = rf.json(&["batch", "show", &typed, "--json"]);
    assert_eq!(
        shown["batch"]["targets"],
        serde_json::json!(["web-01", "web-02"])
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.txt");
    std::fs::write(
        &file,
        "# the file servers\n\nfile-01\n   file-02  \n\n# end of list\nfile-03\n",
    )
    .unwrap();
    let from_file = rf.ok(&[
        "batch",
        "start",
        PATCHING,
        "--targets-file",
        file.to_str().unwrap(),
        "--var",
        "patch_window=Sun 02:00",
    ]);
    assert!(
        from_file.starts_with(&format!(
            "started a batch of \"{PATCHING_TITLE}\" over 3 targets\n"
        )),
        "no client, so none said: {from_file}"
    );
    let from_file = last_id(&from_file);
    let shown = rf.json(&["batch", "show", &from_file, "--json"]);
    assert_eq!(
        shown["batch"]["targets"],
        serde_json::json!(["file-01", "file-02", "file-03"])
    );

    // A target, named in any case, starts a session with the batch's values filled in.
    let run = rf.ok(&["batch", "run", &batch, "srv-02"]);
    assert!(run.starts_with("SRV-02: started\n"), "{run}");
    assert!(
        run.contains("Confirm the change for SRV-02 is approved and you are inside Sat 22:00"),
        "{run}"
    );
    let session = last_id(&run);
    let again = rf.ok(&["batch", "run", &batch, "SRV-02"]);
    assert!(again.starts_with("SRV-02: resumed\n"), "{again}");
    assert_eq!(last_id(&again), session, "the same session resumes");
    assert_eq!(
        rf.json(&["session", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "resuming starts nothing"
    );

    rf.ok(&["session", "tick", &session, "confirm-window"]);
    rf.ok(&[
        "session",
        "tick",
        &session,
        "disk-space",
        "--value",
        "C: 41 GB free",
    ]);
    let finished = rf.ok(&["session", "finish", &session, "--outcome", "resolved"]);
    assert!(
        finished.contains("Session finished: resolved"),
        "{finished}"
    );
    let after = rf.ok(&["batch", "run", &batch, "srv-02"]);
    assert!(after.starts_with("SRV-02: finished;"), "{after}");
    assert_eq!(last_id(&after), session);

    // The batch as a person reads it, by a 13-character prefix of its id.
    let show = rf.ok(&["batch", "show", &batch[..13]]);
    assert!(
        show.starts_with(&format!("{PATCHING_TITLE} (version ")),
        "{show}"
    );
    assert!(show.contains(&format!("batch {batch}")), "{show}");
    assert!(
        show.contains("client Acme, ticket T-1, target list \"Servers\", started by Ada Lovelace"),
        "{show}"
    );
    assert!(show.contains("1 of 3 finished, 2 not started;"), "{show}");
    let row = |target: &str| {
        show.lines()
            .find(|line| line.trim_start().starts_with(target))
            .unwrap_or_else(|| panic!("no row for {target}: {show}"))
            .to_owned()
    };
    assert!(row("SRV-01").contains("not started"), "{show}");
    assert!(row("srv-03").contains("not started"), "{show}");
    let done = row("SRV-02");
    assert!(done.contains("finished: resolved"), "{done}");
    assert!(done.contains("Ada Lovelace"), "{done}");
    assert!(done.contains(&session[..13]), "{done}");
    assert!(done.ends_with("(this device)"), "{done}");

    let view = rf.json(&["batch", "show", &batch[..13], "--json"]);
    assert_eq!(view["id"], batch.as_str());
    assert_eq!(
        target_states(&view),
        [
            ("SRV-01".to_owned(), "not_started".to_owned()),
            ("SRV-02".to_owned(), "finished".to_owned()),
            ("srv-03".to_owned(), "not_started".to_owned()),
        ]
    );
    assert_eq!(view["progress"]["counts"]["finished"], 1);
    assert_eq!(view["progress"]["counts"]["not_started"], 2);
    assert_eq!(view["own_sessions"], serde_json::json!([session]));
    assert_eq!(view["has_flow"], true);

    // Every batch, newest first.
    let list = rf.ok(&["batch", "list"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    assert!(lines[0].starts_with("BATCH"), "{list}");
    assert!(lines[1].starts_with(&from_file[..13]), "{list}");
    assert!(lines[2].starts_with(&typed[..13]), "{list}");
    assert!(lines[3].starts_with(&batch[..13]), "{list}");
    assert!(
        lines[3].contains("Acme") && lines[3].contains("T-1"),
        "{list}"
    );
    assert!(
        lines[3].ends_with("1 of 3 finished, 2 not started"),
        "{list}"
    );
    let summaries = rf.json(&["batch", "list", "--json"]);
    let summaries = summaries.as_array().unwrap();
    assert_eq!(summaries.len(), 3);
    assert_eq!(summaries[2]["id"], batch.as_str());
    assert_eq!(summaries[2]["headline"], "1 of 3 finished, 2 not started");
    assert_eq!(summaries[2]["complete"], false);
    assert_eq!(summaries[2]["ticket"], "T-1");

    // An escalated target with a password in a note: the exception the note explains.
    let escalated = last_id(&rf.ok(&["batch", "run", &batch, "srv-03"]));
    rf.ok(&[
        "session",
        "note",
        &escalated,
        "local admin password: Hunter2!xQ",
    ]);
    rf.ok(&[
        "session",
        "finish",
        &escalated,
        "--outcome",
        "escalated",
        "--summary",
        "the update fails with 0x800f0922",
    ]);

    let markdown = rf.ok(&["batch", "export", &batch, "--format", "md"]);
    assert!(
        markdown.starts_with(&format!("## Batch: {PATCHING_TITLE}")),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Target | Result | Engineer | Time |"),
        "{markdown}"
    );
    for row in [
        "| SRV-01 | not started |",
        "| SRV-02 | resolved | Ada Lovelace |",
        "| srv-03 | escalated | Ada Lovelace |",
    ] {
        assert!(markdown.contains(row), "{row} in {markdown}");
    }
    assert!(markdown.contains("Hunter2!xQ"), "{markdown}");
    assert!(
        markdown.contains("2 of 3 finished, 1 not started (1 resolved, 1 escalated)"),
        "{markdown}"
    );

    let redacted = rf.ok(&["batch", "export", &batch, "--format", "md", "--redact"]);
    assert!(!redacted.contains("Hunter2!xQ"), "{redacted}");
    assert!(redacted.contains("local admin password:"), "{redacted}");
    assert!(redacted.contains("Redacted before export:"), "{redacted}");
    for row in [
        "| SRV-01 | not started |",
        "| SRV-02 | resolved |",
        "| srv-03 | escalated |",
    ] {
        assert!(redacted.contains(row), "{row} in {redacted}");
    }

    let text = rf.ok(&["batch", "export", &batch, "--format", "txt", "--redact"]);
    assert!(
        text.starts_with(&format!("Batch: {PATCHING_TITLE}\n")),
        "{text}"
    );
    assert!(!text.contains("Hunter2!xQ"), "{text}");
    for row in [
        "SRV-01  not started",
        "SRV-02  resolved (Ada Lovelace,",
        "srv-03  escalated (Ada Lovelace,",
    ] {
        assert!(
            text.lines().any(|line| line.starts_with(row)),
            "{row} in {text}"
        );
    }
    let text = rf.ok(&["batch", "export", &batch, "--format", "txt"]);
    assert!(text.contains("Hunter2!xQ"), "{text}");

    let html = rf.ok(&["batch", "export", &batch, "--format", "html", "--redact"]);
    assert!(!html.contains("Hunter2!xQ"), "{html}");
    for row in [
        "<tr><td>SRV-01</td><td>not started</td>",
        "<tr><td>SRV-02</td><td>resolved</td>",
        "<tr><td>srv-03</td><td>escalated</td>",
    ] {
        assert!(html.contains(row), "{row} in {html}");
    }
    let html = rf.ok(&["batch", "export", &batch, "--format", "html"]);
    assert!(html.contains("Hunter2!xQ"), "{html}");

    // To a file, as a ticket note is pasted.
    let note = dir.path().join("batch.md");
    rf.ok(&[
        "batch",
        "export",
        &batch[..13],
        "--redact",
        "--output",
        note.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&note).unwrap(), redacted);
    rf.refused(
        &["batch", "export", &batch, "--format", "pdf"],
        "unknown format \"pdf\"; use md, txt or html",
    );
}

#[test]
fn refused_batches_schedules_and_targets_change_nothing_and_exit_2() {
    let rf = Rf::offline();
    assert_eq!(rf.ok(&["due"]), "nothing due this week\n");
    rf.import("monthly-server-patching.flow.json");
    rf.import("user-cannot-access-file-share.flow.json");
    rf.ok(&[
        "targets", "set", "Servers", "--client", "Acme", "SRV-01", "SRV-02", "srv-03",
    ]);
    let batch = last_id(&rf.ok(&[
        "batch",
        "start",
        PATCHING,
        "--target-list",
        "Servers",
        "--var",
        "patch_window=Sat 22:00",
    ]));
    let before = rf.state();
    let window = "patch_window=Sat 22:00";

    let said = rf.refused(
        &[
            "batch",
            "start",
            PATCHING,
            "--target-list",
            "nope",
            "--var",
            window,
        ],
        "there is no target list \"nope\"",
    );
    assert!(said.contains("`rf targets list`"), "{said}");
    rf.refused(
        &[
            "batch",
            "start",
            PATCHING,
            "--target-list",
            "servers",
            "--client",
            "Globex",
            "--var",
            window,
        ],
        "`rf targets list`",
    );
    rf.refused(
        &[
            "batch",
            "start",
            PATCHING,
            "--targets",
            "srv-01,web-01,SRV-01",
            "--var",
            window,
        ],
        "\"SRV-01\" is listed twice (also as \"srv-01\"); list each target once",
    );
    rf.refused(
        &[
            "batch",
            "start",
            PATCHING,
            "--targets",
            "web-01,web-01",
            "--var",
            window,
        ],
        "\"web-01\" is listed twice; list each target once",
    );
    rf.refused(
        &["batch", "start", PATCHING, "--var", window],
        "give the targets: --targets a,b,c, --targets-file FILE or --target-list NAME",
    );
    let troubleshooting = sample_id("user-cannot-access-file-share.flow.json");
    rf.refused(
        &[
            "batch",
            "start",
            &troubleshooting,
            "--targets",
            "web-01",
            "--var",
            window,
        ],
        "is a troubleshooting flow; a batch runs a maintenance or procedural checklist",
    );
    rf.refused(
        &["batch", "start", PATCHING, "--targets", "web-01"],
        "patch_window",
    );
    rf.refused(
        &[
            "batch",
            "start",
            PATCHING,
            "--targets",
            "web-01",
            "--var",
            window,
            "--var",
            "server_name=x",
        ],
        "\"server_name\" is filled by each target; do not give it with --var",
    );
    let missing_file = rf.run(&[
        "batch",
        "start",
        PATCHING,
        "--targets-file",
        "/nonexistent/targets.txt",
        "--var",
        window,
    ]);
    assert_ne!(missing_file.code, 0);
    assert!(
        missing_file
            .stderr
            .contains("cannot read the targets file /nonexistent/targets.txt"),
        "{}",
        missing_file.stderr
    );
    rf.refused(
        &["batch", "run", &batch, "not-a-target"],
        "\"not-a-target\" is not a target of this batch; its targets are SRV-01, SRV-02, srv-03",
    );
    rf.refused(&["batch", "show", "ffffffff"], "ffffffff");
    rf.refused(
        &["targets", "set", "Servers", "--client", "Acme", "a", "A"],
        "listed twice",
    );
    rf.refused(
        &["targets", "set", "Empty", "--client", "Acme"],
        "no targets given",
    );

    let schedule = |rule: &str, zone: &str| -> Vec<String> {
        [
            "schedule",
            "add",
            PATCHING,
            "--client",
            "Acme",
            "--rule",
            rule,
            "--tz",
            zone,
            "--target-list",
            "Servers",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let refused_schedule = |rule: &str, zone: &str, says: &str| {
        let args = schedule(rule, zone);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rf.refused(&args, says)
    };
    refused_schedule(
        "FREQ=HOURLY",
        "UTC",
        "a schedule recurs at most daily; FREQ=HOURLY is not one",
    );
    refused_schedule(
        "FREQ=DAILY;BYHOUR=3",
        "UTC",
        "a schedule names days, not times of day",
    );
    refused_schedule("garbage", "UTC", "the recurrence rule has no FREQ");
    refused_schedule(
        "every second tuesday",
        "UTC",
        "give the recurrence rule on one line, without spaces",
    );
    refused_schedule(
        "FREQ=MONTHLY;BYDAY=2TU",
        "Mars/Olympus",
        "\"Mars/Olympus\" is not a time zone",
    );
    rf.refused(
        &[
            "schedule",
            "add",
            &troubleshooting,
            "--client",
            "Acme",
            "--rule",
            "FREQ=DAILY",
            "--tz",
            "UTC",
        ],
        "is a troubleshooting flow",
    );
    rf.refused(
        &[
            "schedule",
            "add",
            PATCHING,
            "--client",
            "Acme",
            "--rule",
            "FREQ=DAILY",
            "--tz",
            "UTC",
            "--start",
            "next tuesday",
        ],
        "is not a date written YYYY-MM-DD",
    );
    rf.refused(
        &[
            "schedule",
            "add",
            PATCHING,
            "--client",
            "Acme",
            "--rule",
            "FREQ=DAILY",
            "--tz",
            "UTC",
            "--target-list",
            "nope",
        ],
        "`rf targets list`",
    );

    assert_eq!(rf.state(), before, "nothing changed");
    assert_eq!(rf.ok(&["due"]), "nothing due this week\n");
    assert_eq!(
        rf.json(&["due", "--json"]),
        serde_json::json!({"items": [], "more_overdue": 0, "unreadable": []})
    );
}

#[test]
fn a_daily_schedule_lists_its_overdue_and_due_runs_and_starts_the_oldest() {
    let rf = Rf::offline();
    rf.import("monthly-server-patching.flow.json");
    rf.ok(&[
        "targets", "set", "Servers", "--client", "Acme", "SRV-01", "SRV-02", "srv-03",
    ]);
    let added = rf.ok(&[
        "schedule",
        "add",
        PATCHING,
        "--client",
        "Acme",
        "--rule",
        "FREQ=DAILY",
        "--tz",
        "UTC",
        "--start",
        &day(-3),
        "--target-list",
        "Servers",
    ]);
    let schedule = last_id(&added);
    let short = &schedule[..13];
    let listed = format!(
        "{short}  {PATCHING_TITLE} for Acme: FREQ=DAILY (UTC), from {}, targets \"Servers\"\n",
        day(-3)
    );
    assert!(added.starts_with(&listed), "{added}");
    assert!(
        added.contains(&format!("next: {}, {}", day(0), day(1))),
        "{added}"
    );
    let list = rf.ok(&["schedule", "list"]);
    assert!(list.starts_with(&listed), "{list}");
    let views = rf.json(&["schedule", "list", "--json"]);
    assert_eq!(views[0]["id"], schedule.as_str());
    assert_eq!(views[0]["schedule"]["rule"], "FREQ=DAILY");
    assert_eq!(views[0]["schedule"]["time_zone"], "UTC");
    assert_eq!(views[0]["schedule"]["target_list"], "Servers");

    let run = |state: &str, offset: i64| {
        format!(
            "{state:<10} {}  {PATCHING_TITLE} for Acme, targets \"Servers\"  (schedule {short})",
            day(offset)
        )
    };
    let due = rf.ok(&["due"]);
    let expected = [
        run("overdue", -3),
        run("overdue", -2),
        run("overdue", -1),
        run("due today", 0),
        run("upcoming", 1),
        "start one with: rf batch start FLOW --schedule SCHEDULE [--occurrence DATE]".to_owned(),
    ];
    assert_eq!(due.lines().collect::<Vec<_>>(), expected, "{due}");
    let work = rf.json(&["due", "--json"]);
    let states: Vec<(&str, &str)> = work["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            assert_eq!(item["schedule_id"], schedule.as_str());
            assert_eq!(item["flow_id"], PATCHING);
            assert_eq!(item["client"], "Acme");
            (
                item["state"].as_str().unwrap(),
                item["occurrence"].as_str().unwrap(),
            )
        })
        .collect();
    let (d3, d2, d1, d0, u1) = (day(-3), day(-2), day(-1), day(0), day(1));
    assert_eq!(
        states,
        [
            ("overdue", d3.as_str()),
            ("overdue", d2.as_str()),
            ("overdue", d1.as_str()),
            ("due", d0.as_str()),
            ("upcoming", u1.as_str()),
        ]
    );
    assert_eq!(work["more_overdue"], 0);

    // The oldest waiting run, over the schedule's list.
    let started = rf.ok(&[
        "batch",
        "start",
        PATCHING,
        "--schedule",
        short,
        "--var",
        "patch_window=x",
    ]);
    assert!(
        started.starts_with(&format!(
            "started a batch of \"{PATCHING_TITLE}\" over 3 targets for Acme\n"
        )),
        "{started}"
    );
    let batch = last_id(&started);
    let show = rf.ok(&["batch", "show", &batch]);
    assert!(
        show.contains(&format!("scheduled run of {}", day(-3))),
        "{show}"
    );
    let view = rf.json(&["batch", "show", &batch, "--json"]);
    assert_eq!(view["batch"]["scheduled"]["schedule_id"], schedule.as_str());
    assert_eq!(view["batch"]["scheduled"]["occurrence"], day(-3).as_str());
    let due = rf.ok(&["due"]);
    assert_eq!(
        due.lines().collect::<Vec<_>>(),
        expected[1..],
        "one overdue fewer: {due}"
    );

    // A named run; one already started, or not a run at all, is refused.
    let today = rf.ok(&[
        "batch",
        "start",
        PATCHING,
        "--schedule",
        short,
        "--occurrence",
        &day(0),
        "--var",
        "patch_window=x",
    ]);
    last_id(&today);
    let due = rf.ok(&["due"]);
    assert_eq!(
        due.lines().collect::<Vec<_>>(),
        [
            expected[1].as_str(),
            expected[2].as_str(),
            expected[4].as_str(),
            expected[5].as_str(),
        ],
        "{due}"
    );
    let before = rf.state();
    for occurrence in [day(-3), day(1), day(-10)] {
        rf.refused(
            &[
                "batch",
                "start",
                PATCHING,
                "--schedule",
                short,
                "--occurrence",
                &occurrence,
                "--var",
                "patch_window=x",
            ],
            &format!("{occurrence} is not a run of this schedule waiting to start"),
        );
    }
    assert_eq!(rf.state(), before, "nothing changed");

    let removed = rf.ok(&["schedule", "remove", short]);
    assert_eq!(
        removed,
        format!("removed the schedule of \"{PATCHING_TITLE}\" for Acme; its batches stay\n")
    );
    assert!(
        rf.ok(&["schedule", "list"])
            .starts_with("no schedules yet;"),
        "removed"
    );
    assert_eq!(rf.ok(&["due"]), "nothing due this week\n");
    assert_eq!(
        rf.json(&["batch", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        2,
        "its batches stay"
    );
    rf.refused(&["schedule", "remove", short], short);
}

#[test]
fn a_session_handed_to_a_teammate_is_theirs_alone_and_its_note_says_so() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let work = tempfile::tempdir().unwrap();
    let ada = Rf::at(work.path().join("ada"));
    let bob = Rf::at(work.path().join("bob"));
    for (rf, email) in [(&ada, "ada@contoso.example"), (&bob, "bob@contoso.example")] {
        rf.ok(&["login", "--server", &server.base, "--email", email]);
    }
    ada.import("monthly-server-patching.flow.json");
    let started = ada.ok(&[
        "session",
        "start",
        PATCHING,
        "--ticket",
        "T-7",
        "--client",
        "Contoso",
        "--var",
        "server_name=SRV-09",
        "--var",
        "patch_window=Sat 22:00",
    ]);
    let session = last_id(&started);
    ada.ok(&["session", "tick", &session, "confirm-window"]);
    ada.ok(&["sync"]);
    let synced = bob.ok(&["sync"]);
    assert!(!synced.contains("handed to you"), "{synced}");

    // Only an engineer of the team may take it, and only the holder hands it.
    let before = ada.json(&["session", "show", &session, "--json"]);
    ada.refused(
        &[
            "session",
            "handoff",
            &session,
            "--to",
            "vic@contoso.example",
        ],
        "vic@contoso.example is a viewer",
    );
    ada.refused(
        &[
            "session",
            "handoff",
            &session,
            "--to",
            "eve@fabrikam.example",
        ],
        "eve@fabrikam.example is not a member of the team",
    );
    ada.refused(
        &[
            "session",
            "handoff",
            &session,
            "--to",
            "ada@contoso.example",
        ],
        "that is you",
    );
    bob.refused(
        &[
            "session",
            "handoff",
            &session,
            "--to",
            "ada@contoso.example",
        ],
        "this session is worked by another engineer or device",
    );
    assert_eq!(
        ada.json(&["session", "show", &session, "--json"]),
        before,
        "refusals record nothing"
    );

    let handed = ada.ok(&[
        "session",
        "handoff",
        &session,
        "--to",
        "bob@contoso.example",
        "--note",
        "need domain admin",
    ]);
    assert!(
        handed
            .starts_with("handed to bob@contoso.example; this device records nothing more on it."),
        "{handed}"
    );
    assert_eq!(last_id(&handed), session);
    let after_handoff = ada.json(&["session", "show", &session, "--json"]);
    ada.refused(
        &["session", "note", &session, "x"],
        "this session was handed to bob@contoso.example; only they can continue it",
    );
    ada.refused(
        &["session", "note", &session, "ada: one more thing"],
        "handed to bob@contoso.example",
    );
    ada.refused(
        &["session", "finish", &session, "--outcome", "resolved"],
        "handed to bob@contoso.example",
    );
    assert_eq!(
        ada.json(&["session", "show", &session, "--json"]),
        after_handoff,
        "the refused note is not recorded"
    );

    ada.ok(&["sync"]);
    let synced = bob.ok(&["sync"]);
    let line = synced
        .lines()
        .find(|line| line.starts_with("handed to you:"))
        .unwrap_or_else(|| panic!("no hand-off said: {synced}"));
    assert_eq!(
        line,
        format!(
            "handed to you: {short} {PATCHING_TITLE} (T-7; rf session show {short})",
            short = &session[..13]
        )
    );
    bob.ok(&[
        "session",
        "note",
        &session,
        "bob: domain admin granted, updates installed",
    ]);
    let finished = bob.ok(&["session", "finish", &session, "--outcome", "resolved"]);
    assert!(
        finished.contains("Session finished: resolved"),
        "{finished}"
    );
    bob.ok(&["sync"]);
    let synced = ada.ok(&["sync"]);
    assert!(!synced.contains("handed to you"), "{synced}");
    let synced = bob.ok(&["sync"]);
    assert!(!synced.contains("handed to you"), "continued: {synced}");

    // Ada's device exports the whole story: her steps, the hand-off and its reason, then Bob's.
    for (format, handed) in [
        ("md", "Handed off to: **bob@contoso.example**"),
        ("txt", "Handed off to: bob@contoso.example"),
    ] {
        let note = ada.ok(&["session", "export", &session, "--format", format]);
        assert!(!note.contains("ada: one more thing"), "{note}");
        let handed_at = note
            .find(handed)
            .unwrap_or_else(|| panic!("no hand-off in {note}"));
        let reason = note.find("need domain admin").unwrap();
        let bobs = note
            .find("bob: domain admin granted, updates installed")
            .unwrap_or_else(|| panic!("bob's note did not reach ada: {note}"));
        assert!(handed_at < reason && reason < bobs, "{note}");
        assert!(
            !note.contains("> x\n"),
            "the refused note is nowhere: {note}"
        );
    }
    let shown = ada.json(&["session", "show", &session, "--json"]);
    assert!(
        shown.to_string().contains("resolved"),
        "finished on bob's device: {shown}"
    );
    runtime.block_on(server.stop());
}

#[test]
fn a_batch_target_handed_to_a_teammate_resumes_on_their_device_only() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let work = tempfile::tempdir().unwrap();
    let ada = Rf::at(work.path().join("ada"));
    let bob = Rf::at(work.path().join("bob"));
    for (rf, email) in [(&ada, "ada@contoso.example"), (&bob, "bob@contoso.example")] {
        rf.ok(&["login", "--server", &server.base, "--email", email]);
    }
    ada.import("monthly-server-patching.flow.json");
    let batch = last_id(&ada.ok(&[
        "batch",
        "start",
        PATCHING,
        "--targets",
        "SRV-09,SRV-10",
        "--client",
        "Contoso",
        "--ticket",
        "T-8",
        "--var",
        "patch_window=Sat 22:00",
    ]));
    let session = last_id(&ada.ok(&["batch", "run", &batch, "srv-09"]));
    // Before its first sync the device does not know the team, and says what to do.
    ada.refused(
        &[
            "session",
            "handoff",
            &session,
            "--to",
            "bob@contoso.example",
        ],
        "sync once, then hand the session off",
    );
    ada.ok(&["sync"]);
    let synced = bob.ok(&["sync"]);
    assert!(
        synced.contains("batches, target lists and schedules: 1 changed"),
        "{synced}"
    );
    let listed = bob.json(&["batch", "list", "--json"]);
    assert_eq!(listed[0]["id"], batch.as_str(), "{listed}");
    assert_eq!(
        listed[0]["headline"],
        "0 of 2 finished, 1 in progress, 1 not started"
    );

    // Bob cannot take over a target Ada works without a hand-off.
    let before = bob.state();
    bob.refused(
        &["batch", "run", &batch, "SRV-09"],
        "\"SRV-09\" is being worked by ada@contoso.example on another device",
    );
    assert_eq!(bob.state(), before, "nothing changed");

    ada.ok(&[
        "session",
        "handoff",
        &session,
        "--to",
        "bob@contoso.example",
        "--note",
        "need domain admin",
    ]);
    let before = ada.state();
    ada.refused(
        &["batch", "run", &batch, "SRV-09"],
        "\"SRV-09\": this session was handed to bob@contoso.example",
    );
    assert_eq!(ada.state(), before, "nothing changed");
    let show = ada.ok(&["batch", "show", &batch]);
    assert!(!show.contains("(this device)"), "handed off: {show}");

    ada.ok(&["sync"]);
    let synced = bob.ok(&["sync"]);
    assert!(synced.contains("handed to you: "), "{synced}");
    let resumed = bob.ok(&["batch", "run", &batch, "srv-09"]);
    assert!(resumed.starts_with("SRV-09: resumed\n"), "{resumed}");
    assert_eq!(last_id(&resumed), session);
    bob.ok(&["session", "finish", &session, "--outcome", "resolved"]);
    let other = last_id(&bob.ok(&["batch", "run", &batch, "SRV-10"]));
    bob.ok(&["session", "finish", &other, "--outcome", "workaround"]);
    bob.ok(&["sync"]);
    ada.ok(&["sync"]);

    let view = ada.json(&["batch", "show", &batch, "--json"]);
    assert_eq!(
        target_states(&view),
        [
            ("SRV-09".to_owned(), "finished".to_owned()),
            ("SRV-10".to_owned(), "finished".to_owned()),
        ]
    );
    assert_eq!(view["own_sessions"], serde_json::json!([]), "{view}");
    let show = ada.ok(&["batch", "show", &batch]);
    assert!(show.contains("2 of 2 finished (complete)"), "{show}");
    let note = ada.ok(&["batch", "export", &batch, "--format", "md"]);
    assert!(note.contains("| SRV-09 | resolved |"), "{note}");
    assert!(
        note.contains("| SRV-10 | workaround | bob@contoso.example |"),
        "{note}"
    );
    runtime.block_on(server.stop());
}

#[test]
fn a_target_handed_off_says_who_has_it_when_run_on_the_givers_device() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start(Backend::Sqlite));
    let work = tempfile::tempdir().unwrap();
    let ada = Rf::at(work.path().join("ada"));
    ada.ok(&[
        "login",
        "--server",
        &server.base,
        "--email",
        "ada@contoso.example",
    ]);
    ada.import("monthly-server-patching.flow.json");
    let batch = last_id(&ada.ok(&[
        "batch",
        "start",
        PATCHING,
        "--targets",
        "SRV-09",
        "--var",
        "patch_window=Sat 22:00",
    ]));
    let session = last_id(&ada.ok(&["batch", "run", &batch, "SRV-09"]));
    ada.ok(&["sync"]);
    ada.ok(&[
        "session",
        "handoff",
        &session,
        "--to",
        "bob@contoso.example",
    ]);
    // `rf session note` says "this session was handed to bob@contoso.example; only they can
    // continue it"; `rf batch run` says "'SRV-09' is being worked by ada@contoso.example on
    // another device (session …); it is theirs to continue, or to hand off": the giver, on this
    // very device, told to hand off what it already handed off.
    let said = ada.refused(&["batch", "run", &batch, "SRV-09"], "SRV-09");
    assert!(said.contains("bob@contoso.example"), "{said}");
    assert!(!said.contains("another device"), "{said}");
    runtime.block_on(server.stop());
}
