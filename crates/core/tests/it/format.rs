//! `resolutionflow/v1` round-trips: any flow written and read back is the same flow, unknown
//! fields included; and the file text of any valid flow reads back to identical JSON.

use proptest::prelude::*;
use rf_core::flow::{
    Answer, Command, ExtraFields, IntakeField, Link, Node, NodeKind, Verify, VerifyKind,
};
use rf_core::{Flow, FlowKind, Outcome};
use serde_json::Value;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

/// Unknown fields as a newer writer might add them; `x-` keeps them apart from known names.
fn extra() -> impl Strategy<Value = ExtraFields> {
    prop::collection::btree_map(
        "x-[a-z]{1,8}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            text().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            prop::collection::vec(text().prop_map(Value::from), 0..3).prop_map(Value::from),
        ],
        0..3,
    )
    .prop_map(|map| map.into_iter().collect())
}

fn node() -> impl Strategy<Value = Node> {
    let kind = prop::sample::select(vec![
        NodeKind::Question,
        NodeKind::Action,
        NodeKind::Resolution,
        NodeKind::Subflow,
        NodeKind::Section,
        NodeKind::Step,
    ]);
    let command =
        (text(), text(), text(), extra()).prop_map(|(label, language, code, extra)| Command {
            label,
            language,
            code,
            extra,
        });
    let link = (text(), text(), extra()).prop_map(|(title, url, extra)| Link { title, url, extra });
    let answer = (text(), "[a-z0-9]{1,6}", extra()).prop_map(|(label, next, extra)| Answer {
        label,
        next,
        extra,
    });
    let verify = (
        prop::sample::select(vec![VerifyKind::Checkbox, VerifyKind::Text]),
        text(),
        extra(),
    )
        .prop_map(|(kind, prompt, extra)| Verify {
            kind,
            prompt,
            extra,
        });
    (
        (
            "[a-z0-9][a-z0-9-]{0,10}",
            kind,
            text(),
            prop::option::of(text()),
        ),
        (
            prop::collection::vec(command, 0..2),
            prop::collection::vec(link, 0..2),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(any::<u32>()),
        ),
        (
            prop::option::of(verify),
            prop::option::of(prop::collection::vec(answer, 0..3)),
            prop::option::of("[a-z0-9]{1,6}"),
            prop::option::of(prop::sample::select(Outcome::ALL.to_vec())),
            prop::option::of(text()),
            extra(),
        ),
    )
        .prop_map(
            |(
                (id, kind, title, body),
                (commands, links, expected, warning, estimated_minutes),
                (verify, answers, next, outcome, flow, extra),
            )| Node {
                id,
                kind,
                title,
                body,
                commands,
                links,
                expected,
                warning,
                estimated_minutes,
                verify,
                answers,
                next,
                outcome,
                flow,
                extra,
            },
        )
}

fn flow() -> impl Strategy<Value = Flow> {
    let intake = (
        text(),
        text(),
        any::<bool>(),
        prop::option::of(text()),
        extra(),
    )
        .prop_map(|(name, label, required, default, extra)| IntakeField {
            name,
            label,
            required,
            default,
            extra,
        });
    (
        (
            prop::sample::select(vec![
                FlowKind::Troubleshooting,
                FlowKind::Procedural,
                FlowKind::Maintenance,
            ]),
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::collection::vec(text(), 0..3),
        ),
        (
            prop::option::of(any::<u128>().prop_map(uuid::Uuid::from_u128)),
            prop::collection::vec(intake, 0..2),
            prop::option::of("[a-z0-9]{1,6}"),
            prop::collection::vec(node(), 0..6),
            extra(),
        ),
    )
        .prop_map(
            |((kind, title, description, category, tags), (id, intake, start, nodes, extra))| {
                Flow {
                    format: "resolutionflow/v1".into(),
                    id,
                    kind,
                    title,
                    description,
                    category,
                    tags,
                    intake,
                    start,
                    target: None,
                    nodes,
                    extra,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn writing_and_reading_a_flow_changes_nothing(flow in flow()) {
        let written = flow.to_json_pretty();
        let read = Flow::parse_unvalidated(&written).unwrap();
        prop_assert_eq!(&read, &flow);
        prop_assert_eq!(read.to_json_pretty(), written);
    }

    /// Parsing never panics, whatever the bytes.
    #[test]
    fn arbitrary_text_is_an_error_not_a_panic(text in "\\PC{0,200}") {
        let _ = Flow::parse(&text);
    }
}

#[test]
fn every_sample_reads_back_to_identical_json() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/flows");
    let mut checked = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".flow.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let flow = Flow::parse(&text)
            .unwrap_or_else(|error| panic!("{}: {:?}", path.display(), error.problems));
        let original: Value = serde_json::from_str(&text).unwrap();
        let rewritten: Value = serde_json::from_str(&flow.to_json_pretty()).unwrap();
        prop_assert_eq_json(&original, &rewritten, &path);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} samples");
}

fn prop_assert_eq_json(original: &Value, rewritten: &Value, path: &std::path::Path) {
    assert_eq!(
        original,
        rewritten,
        "{} changed on a round-trip",
        path.display()
    );
}
