//! rf-sync-server: the team's sync server. Four layers, each importing only from those below
//! it (checked by `layers::no_module_imports_from_a_layer_above_it`):
//! [`domain`] (plain types) → [`rules`] (pure decisions) → [`storage`] (the store trait, its
//! transactions written once, and the SQLite and PostgreSQL back ends) → [`vendors`] (the
//! vendors' APIs a team reaches through the server, and the secrets that takes) → [`http`]
//! (router, handlers, limits, server).
#![forbid(unsafe_code)]

pub mod domain;
pub mod http;
pub mod rules;
pub mod storage;
pub mod vendors;

pub use domain::users::Role;
pub use http::server::serve;
pub use http::{ApiConfig, AppState, PsaSettings, router};
pub use storage::blobs::Attachments;
pub use storage::{PostgresStore, SqliteStore, Store};

#[cfg(test)]
mod layers {
    //! The layer rule, checked over the source: a module may name (in code, not comments)
    //! only its own layer and those below it.

    use std::path::{Path, PathBuf};

    /// Bottom to top.
    const LAYERS: [&str; 5] = ["domain", "rules", "storage", "vendors", "http"];

    fn sources(folder: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }

    /// The layers a file's code names through `crate::…` (comments left out); `crate::{…}`
    /// counts as naming every layer, so the rule cannot be dodged by grouping.
    fn layers_named(text: &str) -> Vec<&'static str> {
        let mut named = Vec::new();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                if rest.starts_with('{') {
                    named.extend(LAYERS);
                }
                named.extend(LAYERS.iter().filter(|layer| {
                    rest.strip_prefix(**layer)
                        .is_some_and(|after| after.starts_with("::") || after.starts_with(';'))
                }));
            }
        }
        named
    }

    #[test]
    fn no_module_imports_from_a_layer_above_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        let mut broken = Vec::new();
        for file in &files {
            let relative = file.strip_prefix(&root).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let Some(level) = LAYERS.iter().position(|layer| first == *layer) else {
                // Only the crate root and the binary may stand outside the layers.
                assert!(
                    relative == Path::new("lib.rs") || relative == Path::new("main.rs"),
                    "{} is in no layer; put it under one of {LAYERS:?}",
                    relative.display()
                );
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap();
            for named in layers_named(&text) {
                let above = LAYERS.iter().position(|layer| *layer == named).unwrap() > level;
                if above {
                    broken.push(format!("{} names {named}", relative.display()));
                }
            }
        }
        assert!(files.len() > 20, "the walk found {} files", files.len());
        assert!(broken.is_empty(), "imports from a layer above: {broken:#?}");
    }

    #[test]
    fn the_check_sees_names_in_code_and_groups_but_not_comments() {
        assert_eq!(layers_named("use crate::http::api::AppState;"), ["http"]);
        assert_eq!(
            layers_named("    x: crate::storage::poke::Pokes,"),
            ["storage"]
        );
        assert_eq!(layers_named("use crate::{http, domain};"), LAYERS.to_vec());
        assert!(layers_named("/// see [`crate::http::api`]").is_empty());
        assert!(layers_named("use crate::httpd::x;").is_empty());
    }
}
