//! Navigation engine: case tables per flow kind, and the property that replaying a session's
//! events always gives the state that was built step by step.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rf_core::session::{
    Choice, Command, EventKind, FlowRef, FlowSet, SessionEvent, SessionState, StartRequest,
    current_step, decide, start,
};
use rf_core::{Flow, Outcome};
use uuid::Uuid;

const SHARE: &str = "11111111-1111-4111-8111-111111111111";
const LOCKOUT: &str = "22222222-2222-4222-8222-222222222222";
const ONBOARD: &str = "33333333-3333-4333-8333-333333333333";
const MAILBOX: &str = "44444444-4444-4444-8444-444444444444";

fn flow_json(
    id: &str,
    kind: &str,
    start: Option<&str>,
    intake: serde_json::Value,
    nodes: serde_json::Value,
) -> Flow {
    let mut document = serde_json::json!({
        "format": "resolutionflow/v1", "id": id, "kind": kind, "title": format!("Flow {id}"),
        "intake": intake, "nodes": nodes,
    });
    if let Some(start) = start {
        document["start"] = start.into();
    }
    Flow::parse(&document.to_string()).unwrap()
}

fn library() -> FlowSet {
    let share = flow_json(
        SHARE,
        "troubleshooting",
        Some("reach"),
        serde_json::json!([{"name": "server", "label": "File server", "required": true}]),
        serde_json::json!([
            {"id": "reach", "type": "question", "title": "Does {{server}} answer on 445?",
             "answers": [{"label": "Yes", "next": "locked"}, {"label": "No", "next": "fw"}]},
            {"id": "fw", "type": "action", "title": "Allow SMB to {{server}}", "next": "reach"},
            {"id": "locked", "type": "question", "title": "Account locked?",
             "answers": [{"label": "Maybe", "next": "lockout"}, {"label": "No", "next": "perms"}]},
            {"id": "lockout", "type": "subflow", "title": "Lockout investigation", "flow": LOCKOUT, "next": "perms"},
            {"id": "perms", "type": "resolution", "title": "Grant permissions", "outcome": "resolved"}
        ]),
    );
    let lockout = flow_json(
        LOCKOUT,
        "troubleshooting",
        Some("check"),
        serde_json::json!([{"name": "user", "label": "User name", "required": true}]),
        serde_json::json!([
            {"id": "check", "type": "question", "title": "Is {{user}} locked out?",
             "answers": [{"label": "Locked", "next": "unlock"}, {"label": "Not locked", "next": "fine"}]},
            {"id": "unlock", "type": "action", "title": "Unlock and find the source", "next": "fine"},
            {"id": "fine", "type": "resolution", "title": "Account usable", "outcome": "resolved"}
        ]),
    );
    let onboard = flow_json(
        ONBOARD,
        "procedural",
        None,
        serde_json::json!([]),
        serde_json::json!([
            {"id": "accounts", "type": "section", "title": "Accounts"},
            {"id": "ad", "type": "step", "title": "Create the AD account"},
            {"id": "upn", "type": "step", "title": "Record the UPN", "verify": {"kind": "text", "prompt": "UPN"}},
            {"id": "checks", "type": "section", "title": "Checks"},
            {"id": "sync", "type": "step", "title": "Did the account sync?",
             "answers": [{"label": "Synced", "next": "mail"}, {"label": "Not yet", "next": "force"}]},
            {"id": "force", "type": "step", "title": "Force a delta sync"},
            {"id": "mail", "type": "subflow", "title": "Mailbox", "flow": MAILBOX},
            {"id": "done", "type": "step", "title": "Tell the manager"}
        ]),
    );
    let mailbox = flow_json(
        MAILBOX,
        "procedural",
        None,
        serde_json::json!([]),
        serde_json::json!([
            {"id": "license", "type": "step", "title": "Assign a licence"},
            {"id": "groups", "type": "step", "title": "Add to mail groups"}
        ]),
    );
    let mut flows = FlowSet::new();
    for flow in [share, lockout, onboard, mailbox] {
        let flow_id = flow.id.unwrap();
        flows.insert(FlowRef::of(flow_id, &flow), flow);
    }
    flows
}

fn at(second: i64) -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-23 09:00 UTC) + time::Duration::seconds(second)
}

/// A session driven through commands, keeping the events as the replica would.
struct Driver {
    flows: FlowSet,
    events: Vec<SessionEvent>,
    state: SessionState,
}

impl Driver {
    fn start(flow: &str, variables: &[(&str, &str)]) -> Result<Driver, String> {
        let flows = library();
        // Only the share flow (and its lockout subflow) declares intake variables.
        let variables = if flow == SHARE { variables } else { &[] };
        let request = StartRequest {
            ticket: "T-1001".into(),
            client: "Contoso".into(),
            engineer: "Ada".into(),
            variables: variables
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        };
        let kinds = start(&flows, Uuid::parse_str(flow).unwrap(), request)
            .map_err(|error| error.to_string())?;
        let events: Vec<SessionEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(index, kind)| SessionEvent {
                at: at(index as i64),
                kind,
            })
            .collect();
        let state = SessionState::replay(&events).unwrap();
        Ok(Driver {
            flows,
            events,
            state,
        })
    }

    fn run(&mut self, command: Command) -> Result<(), String> {
        let kinds = decide(&self.state, &self.flows, command).map_err(|error| error.to_string())?;
        for kind in kinds {
            let event = SessionEvent {
                at: at(self.events.len() as i64 * 30),
                kind,
            };
            self.state.apply(&event).unwrap();
            self.events.push(event);
        }
        Ok(())
    }

    /// "flow-prefix:node" of where the engineer stands, "flow-prefix:(complete)" for a done checklist.
    fn here(&self) -> String {
        let cursor = self.state.current_cursor().unwrap();
        let prefix = &cursor.flow.flow_id.to_string()[..4];
        format!(
            "{prefix}:{}",
            cursor.node.as_deref().unwrap_or("(complete)")
        )
    }
}

fn answer(label: &str) -> Command {
    Command::Answer {
        choice: Choice::parse(label),
    }
}

fn tick(node: &str, value: Option<&str>) -> Command {
    Command::Tick {
        node: node.into(),
        value: value.map(str::to_owned),
    }
}

enum Expect {
    At(&'static str),
    Fails(&'static str),
}

#[test]
fn navigation_cases() {
    use Expect::{At, Fails};
    let vars = [("server", "fs01"), ("user", "jdoe")];
    /// A case: its name, the flow to start, and each command with what must follow.
    type Case = (&'static str, &'static str, Vec<(Command, Expect)>);
    let cases: Vec<Case> = vec![
        (
            "re-check loop then resolution",
            SHARE,
            vec![
                (answer("no"), At("1111:fw")),
                (answer("done"), At("1111:reach")),
                (answer("1"), At("1111:locked")),
                (answer("No"), At("1111:perms")),
                (answer("1"), Fails("this is a resolution")),
            ],
        ),
        (
            "unknown choices are refused with the list",
            SHARE,
            vec![
                (
                    answer("perhaps"),
                    Fails("\"perhaps\" is not one of the choices here: 1) Yes, 2) No"),
                ),
                (answer("3"), Fails("\"3\" is not one of the choices")),
                (answer("YES"), At("1111:locked")),
            ],
        ),
        (
            "subflow entered, answered and returned from",
            SHARE,
            vec![
                (answer("yes"), At("1111:locked")),
                (answer("maybe"), At("2222:check")),
                (answer("locked"), At("2222:unlock")),
                (answer("done"), At("2222:fine")),
                (answer("1"), At("1111:perms")),
            ],
        ),
        (
            "back walks out of a subflow and through a loop",
            SHARE,
            vec![
                (Command::Back, Fails("already at the first step")),
                (answer("no"), At("1111:fw")),
                (answer("done"), At("1111:reach")),
                (answer("yes"), At("1111:locked")),
                (answer("maybe"), At("2222:check")),
                (Command::Back, At("1111:locked")),
                (Command::Back, At("1111:reach")),
                (Command::Back, At("1111:fw")),
                (Command::Back, At("1111:reach")),
                (Command::Back, Fails("already at the first step")),
            ],
        ),
        (
            "notes, outputs and custom steps do not move",
            SHARE,
            vec![
                (
                    Command::Note {
                        text: "User on VLAN 20".into(),
                    },
                    At("1111:reach"),
                ),
                (
                    Command::PasteOutput {
                        text: "TcpTestSucceeded : False".into(),
                    },
                    At("1111:reach"),
                ),
                (
                    Command::CustomStep {
                        title: "Rebooted the switch".into(),
                    },
                    At("1111:reach"),
                ),
                (
                    Command::Note { text: "   ".into() },
                    Fails("the note is empty"),
                ),
                (
                    Command::Tick {
                        node: "reach".into(),
                        value: None,
                    },
                    Fails("ticking is for checklist"),
                ),
            ],
        ),
        (
            "finish ends everything",
            SHARE,
            vec![
                (
                    Command::Finish {
                        outcome: Outcome::Escalated,
                        summary: Some("Sent to network".into()),
                        next_steps: None,
                    },
                    At("1111:reach"),
                ),
                (answer("yes"), Fails("the session is finished")),
                (
                    Command::Note {
                        text: "late".into(),
                    },
                    Fails("the session is finished"),
                ),
            ],
        ),
        (
            "checklist in order with a text value and a branch",
            ONBOARD,
            vec![
                (answer("done"), At("3333:upn")),
                (answer("done"), Fails("asks \"UPN\"")),
                (tick("upn", None), Fails("pass the value with --value")),
                (tick("upn", Some("jdoe@contoso.com")), At("3333:sync")),
                (answer("not yet"), At("3333:force")),
                (answer("done"), At("4444:license")),
                (answer("done"), At("4444:groups")),
                (answer("done"), At("3333:done")),
                (answer("done"), At("3333:(complete)")),
                (answer("done"), Fails("finish the session")),
            ],
        ),
        (
            "ticking out of order, then the cursor skips what is done",
            ONBOARD,
            vec![
                (tick("done", None), At("3333:ad")),
                (tick("force", None), At("3333:ad")),
                (tick("ad", None), At("3333:upn")),
                (tick("accounts", None), Fails("is a section, not a step")),
                (tick("nope", None), Fails("does not exist")),
                (tick("sync", Some("maybe")), Fails("branches")),
                (tick("upn", Some("x@y.z")), At("3333:sync")),
                (tick("sync", Some("synced")), At("4444:license")),
                (answer("done"), At("4444:groups")),
                (answer("done"), At("3333:(complete)")),
            ],
        ),
    ];
    for (name, flow, steps) in cases {
        let mut driver = Driver::start(flow, &vars).unwrap();
        for (index, (command, expect)) in steps.into_iter().enumerate() {
            let before = driver.state.clone();
            let result = driver.run(command);
            match (expect, result) {
                (At(place), Ok(())) => {
                    assert_eq!(driver.here(), place, "case {name:?}, step {index}")
                }
                (Fails(text), Err(error)) => {
                    assert!(
                        error.contains(text),
                        "case {name:?}, step {index}: {error:?} lacks {text:?}"
                    );
                    assert_eq!(
                        driver.state, before,
                        "case {name:?}, step {index}: a refused command changed the state"
                    );
                }
                (At(place), Err(error)) => {
                    panic!("case {name:?}, step {index}: expected {place}, got error {error}")
                }
                (Fails(text), Ok(())) => panic!(
                    "case {name:?}, step {index}: expected failure {text:?}, now at {}",
                    driver.here()
                ),
            }
        }
        assert_eq!(
            SessionState::replay(&driver.events).unwrap(),
            driver.state,
            "case {name:?}: replay differs"
        );
    }
}

#[test]
fn start_checks_intake_values_including_subflows() {
    let missing = Driver::start(SHARE, &[("server", "fs01")]).err().unwrap();
    assert!(missing.contains("user (User name)"), "{missing}");
    let unknown = Driver::start(
        SHARE,
        &[("server", "fs01"), ("user", "u"), ("colour", "red")],
    )
    .err()
    .unwrap();
    assert!(
        unknown.contains("unknown intake variable(s): colour"),
        "{unknown}"
    );
    let blank = Driver::start(SHARE, &[("server", "  "), ("user", "u")])
        .err()
        .unwrap();
    assert!(blank.contains("server (File server)"), "{blank}");
    let driver = Driver::start(SHARE, &[("server", "fs01"), ("user", "jdoe")]).unwrap();
    let view = current_step(&driver.state, &driver.flows).unwrap();
    assert_eq!(view.node.unwrap().title, "Does fs01 answer on 445?");
    assert_eq!(view.choices, vec!["Yes", "No"]);
    assert!(!view.can_go_back);
}

#[test]
fn the_path_records_answers_notes_and_subflows() {
    let mut driver = Driver::start(SHARE, &[("server", "fs01"), ("user", "jdoe")]).unwrap();
    for command in [
        answer("no"),
        Command::Note {
            text: "port closed".into(),
        },
        answer("done"),
        answer("yes"),
        answer("maybe"),
        answer("not locked"),
        answer("1"),
        Command::Finish {
            outcome: Outcome::Resolved,
            summary: Some("ok".into()),
            next_steps: None,
        },
    ] {
        driver.run(command).unwrap();
    }
    let lines: Vec<String> = driver
        .state
        .path
        .iter()
        .map(|entry| {
            format!(
                "{:?}|{}|{}|{}",
                entry.kind,
                entry.depth,
                entry.title,
                entry.answer.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "Step|0|Does fs01 answer on 445?|No",
            "Step|0|Allow SMB to fs01|Done",
            "Step|0|Does fs01 answer on 445?|Yes",
            "Step|0|Account locked?|Maybe",
            "SubflowEntered|0|Flow 22222222-2222-4222-8222-222222222222|",
            "Step|1|Is jdoe locked out?|Not locked",
            "Step|1|Account usable|Return to the previous flow",
            "SubflowLeft|0|Flow 22222222-2222-4222-8222-222222222222|",
            "Step|0|Grant permissions|",
        ]
    );
    assert_eq!(driver.state.path[0].notes.len(), 0);
    assert_eq!(driver.state.path[1].notes[0].text, "port closed");
    assert_eq!(driver.state.outcome, Some(Outcome::Resolved));
}

#[test]
fn corrupt_logs_are_errors_not_panics() {
    let driver = Driver::start(SHARE, &[("server", "a"), ("user", "b")]).unwrap();
    assert!(SessionState::replay(&[]).is_err());
    assert!(SessionState::replay(&driver.events[1..]).is_err());
    let mut doubled = driver.events.clone();
    doubled.push(driver.events[0].clone());
    assert!(SessionState::replay(&doubled).is_err());
    let mut back = driver.events.clone();
    back.push(SessionEvent {
        at: at(99),
        kind: EventKind::WentBack {
            to_node: None,
            to_title: String::new(),
        },
    });
    assert!(SessionState::replay(&back).is_err());
}

fn command_strategy() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => (0usize..4).prop_map(|index| Command::Answer { choice: Choice::Index(index) }),
        1 => prop::sample::select(vec!["done", "yes", "no", "maybe", "locked", "synced", "not yet"])
            .prop_map(|label| Command::Answer { choice: Choice::Label(label.into()) }),
        1 => Just(Command::Back),
        1 => "[a-z ]{0,12}".prop_map(|text| Command::Note { text }),
        1 => "[a-z]{1,8}".prop_map(|text| Command::PasteOutput { text }),
        1 => "[a-z]{1,8}".prop_map(|title| Command::CustomStep { title }),
        1 => (prop::sample::select(vec!["ad", "upn", "sync", "force", "done", "license", "reach"]),
              prop::option::of(prop::sample::select(vec!["x@y.z", "synced", "not yet"])))
            .prop_map(|(node, value)| Command::Tick { node: node.into(), value: value.map(str::to_owned) }),
        1 => prop::sample::select(Outcome::ALL.to_vec())
            .prop_map(|outcome| Command::Finish { outcome, summary: None, next_steps: None }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the engineer does, in any order, replaying the stored events gives the state
    /// that was built incrementally, and refused commands change nothing.
    #[test]
    fn replaying_events_gives_the_same_state(
        flow in prop::sample::select(vec![SHARE, ONBOARD]),
        commands in prop::collection::vec(command_strategy(), 0..40),
    ) {
        let mut driver = Driver::start(flow, &[("server", "fs01"), ("user", "jdoe")]).unwrap();
        for command in commands {
            let before = driver.state.clone();
            if driver.run(command).is_err() {
                prop_assert_eq!(&driver.state, &before);
            }
            // The view of the current step can always be built for a live session.
            prop_assert!(current_step(&driver.state, &driver.flows).is_ok());
        }
        let replayed = SessionState::replay(&driver.events).unwrap();
        prop_assert_eq!(replayed, driver.state.clone());
        // Events survive their storage encoding unchanged.
        let stored = serde_json::to_string(&driver.events).unwrap();
        let loaded: Vec<SessionEvent> = serde_json::from_str(&stored).unwrap();
        prop_assert_eq!(loaded, driver.events);
    }
}

#[test]
fn a_checklist_state_round_trips_through_json() {
    let mut driver = Driver::start(ONBOARD, &[]).unwrap();
    driver.run(tick("ad", None)).unwrap();
    driver.run(tick("upn", Some("jdoe@contoso.com"))).unwrap();
    let json = serde_json::to_value(&driver.state).unwrap();
    let key = format!("{ONBOARD}@{}", driver.state.flow.version);
    assert_eq!(json["ticked"][&key]["upn"], "jdoe@contoso.com");
    let back: SessionState = serde_json::from_value(json).unwrap();
    assert_eq!(back, driver.state);
}
