//! `schemas/flow.v1.schema.json` is the published contract: every shipped sample must satisfy
//! it, and the schema must reject what the format forbids.

use serde_json::{Value, json};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/flow.v1.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[test]
fn every_sample_satisfies_the_schema_and_the_validator() {
    let validator = validator();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("samples/flows")).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with(".flow.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let document: Value = serde_json::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|error| error.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        if let Err(error) = rf_core::Flow::parse(&text) {
            panic!("{}: {:#?}", path.display(), error.problems);
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} samples");
}

#[test]
fn the_schema_rejects_what_the_format_forbids() {
    let validator = validator();
    let valid = json!({
        "format": "resolutionflow/v1", "kind": "troubleshooting", "title": "T", "start": "a",
        "x-future-field": {"kept": true},
        "nodes": [
            {"id": "a", "type": "question", "title": "Q", "answers": [{"label": "Yes", "next": "b"}],
             "links": [{"title": "Docs", "url": "https://learn.microsoft.com"}]},
            {"id": "b", "type": "resolution", "title": "R", "outcome": "resolved"}
        ]
    });
    assert!(
        validator.is_valid(&valid),
        "{:?}",
        validator
            .iter_errors(&valid)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    type Breakage = Box<dyn Fn(&mut Value)>;
    let broken: Vec<(&str, Breakage)> = vec![
        (
            "wrong format",
            Box::new(|doc| doc["format"] = json!("resolutionflow/v2")),
        ),
        ("empty title", Box::new(|doc| doc["title"] = json!(""))),
        (
            "unknown kind",
            Box::new(|doc| doc["kind"] = json!("runbook")),
        ),
        (
            "no start in troubleshooting",
            Box::new(|doc| {
                doc.as_object_mut().unwrap().remove("start");
            }),
        ),
        (
            "question without answers",
            Box::new(|doc| {
                doc["nodes"][0].as_object_mut().unwrap().remove("answers");
            }),
        ),
        (
            "answer with empty label",
            Box::new(|doc| doc["nodes"][0]["answers"][0]["label"] = json!("")),
        ),
        (
            "resolution without outcome",
            Box::new(|doc| {
                doc["nodes"][1].as_object_mut().unwrap().remove("outcome");
            }),
        ),
        (
            "non-http link",
            Box::new(|doc| doc["nodes"][0]["links"][0]["url"] = json!("javascript:alert(1)")),
        ),
        (
            "bad node id",
            Box::new(|doc| doc["nodes"][1]["id"] = json!("Bad Id")),
        ),
        (
            "unknown node type",
            Box::new(|doc| doc["nodes"][1]["type"] = json!("teleport")),
        ),
        (
            "title too long",
            Box::new(|doc| doc["title"] = json!("x".repeat(201))),
        ),
    ];
    for (name, breakage) in broken {
        let mut document = valid.clone();
        breakage(&mut document);
        assert!(
            !validator.is_valid(&document),
            "the schema accepted: {name}"
        );
    }
}
