//! How the conflicts screen words a conflict: where in the flow it is, and each side's value.

use serde_json::Value;

/// Where in the flow a conflict is, in words: `/title` is "Title", `/nodes/check-dns/body` is
/// "Step check-dns · body", `/nodes/check-dns` is "Step check-dns (the whole step)".
pub fn describe_path(path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let field = |name: &str| {
        let mut words = name.replace('_', " ");
        if let Some(first) = words.get(..1) {
            let upper = first.to_uppercase();
            words.replace_range(..1, &upper);
        }
        words
    };
    match parts.as_slice() {
        ["nodes", node] => format!("Step {node} (the whole step)"),
        ["nodes", node, rest @ ..] => {
            format!("Step {node} · {}", rest.join(" / ").replace('_', " "))
        }
        [""] => "The whole flow".to_owned(),
        [name] => field(name),
        _ => path.to_owned(),
    }
}

/// A side's value as the screen shows it: text as it is, anything else as indented JSON, and
/// a side that removed the field says so.
pub fn show_value(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "(removed)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_read_as_words() {
        assert_eq!(describe_path("/title"), "Title");
        assert_eq!(describe_path("/estimated_minutes"), "Estimated minutes");
        assert_eq!(
            describe_path("/nodes/check-dns/body"),
            "Step check-dns · body"
        );
        assert_eq!(
            describe_path("/nodes/check-dns"),
            "Step check-dns (the whole step)"
        );
        assert_eq!(describe_path("/"), "The whole flow");
        assert_eq!(describe_path("/a/b/c"), "/a/b/c");
    }

    #[test]
    fn values_show_as_text_json_or_removed() {
        assert_eq!(show_value(Some(&json!("Flush DNS"))), "Flush DNS");
        assert_eq!(show_value(None), "(removed)");
        assert_eq!(show_value(Some(&Value::Null)), "(removed)");
        assert_eq!(show_value(Some(&json!(["a"]))), "[\n  \"a\"\n]");
    }
}
