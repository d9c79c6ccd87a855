//! Flow text (Markdown) to HTML that is safe to insert: pulldown-cmark renders, then ammonia
//! keeps only an allowlist of tags. No images at all, no raw HTML, no scripts, and links never
//! navigate the window: they carry `data-href` and the runner opens them in the system browser.

use std::collections::{HashMap, HashSet};

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd};

/// Schemes a link may open (the shell allows the same).
const LINK_SCHEMES: [&str; 3] = ["http://", "https://", "mailto:"];

pub fn is_openable(url: &str) -> bool {
    let lowered = url.trim().to_ascii_lowercase();
    LINK_SCHEMES
        .iter()
        .any(|scheme| lowered.starts_with(scheme))
}

/// Renders Markdown to sanitised HTML.
pub fn render(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut image_depth = 0usize;
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        // Images become their alt text: nothing is ever loaded.
        Event::Start(Tag::Image { .. }) => {
            image_depth += 1;
            None
        }
        Event::End(TagEnd::Image) => {
            image_depth = image_depth.saturating_sub(1);
            None
        }
        // Raw HTML is shown as the text it is.
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Link { dest_url, .. }) if image_depth == 0 => {
            Some(Event::InlineHtml(CowStr::from(link_open(&dest_url))))
        }
        Event::End(TagEnd::Link) if image_depth == 0 => {
            Some(Event::InlineHtml(CowStr::from("</a>")))
        }
        Event::Start(Tag::Link { .. }) | Event::End(TagEnd::Link) => None,
        other => Some(other),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    sanitizer().clean(&html).to_string()
}

fn link_open(url: &str) -> String {
    if is_openable(url) {
        format!(
            "<a data-href=\"{}\" title=\"{}\">",
            escape_attribute(url),
            escape_attribute(url)
        )
    } else {
        // A relative or unknown link cannot be opened: show it as plain text.
        "<a>".to_owned()
    }
}

fn escape_attribute(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn sanitizer() -> ammonia::Builder<'static> {
    let tags: HashSet<&str> = [
        "p",
        "br",
        "hr",
        "em",
        "strong",
        "del",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
    ]
    .into_iter()
    .collect();
    let mut attributes: HashMap<&str, HashSet<&str>> = HashMap::new();
    attributes.insert("a", ["data-href", "title"].into_iter().collect());
    attributes.insert("code", ["class"].into_iter().collect());
    attributes.insert("ol", ["start"].into_iter().collect());
    attributes.insert("th", ["style"].into_iter().collect());
    attributes.insert("td", ["style"].into_iter().collect());
    attributes.insert(
        "input",
        ["type", "checked", "disabled"].into_iter().collect(),
    );
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(tags)
        .tag_attributes(attributes)
        .link_rel(None)
        .strip_comments(true);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_data_href_and_never_navigate() {
        let html = render("See [the KB](https://kb.example.com/dns?a=1&b=2).");
        assert!(
            html.contains(r#"<a data-href="https://kb.example.com/dns?a=1&amp;b=2""#),
            "{html}"
        );
        assert!(!html.contains(" href="), "{html}");
        let html = render("[bad](javascript:alert(1)) [rel](../other)");
        assert!(!html.contains("javascript"), "{html}");
        assert!(!html.contains("data-href"), "{html}");
        assert!(html.contains("<a>bad</a>"), "{html}");
    }

    #[test]
    fn images_scripts_and_raw_html_never_survive() {
        let html = render(
            "![diagram](https://evil.example/x.png)\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)> text",
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("diagram"), "the alt text stays: {html}");
        assert!(html.contains("&lt;script&gt;"), "shown as text: {html}");
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = render(
            "**Check** the `dnscache` service:\n\n- one\n- two\n\n```powershell\nGet-Service\n```",
        );
        assert!(html.contains("<strong>Check</strong>"), "{html}");
        assert!(html.contains("<code>dnscache</code>"), "{html}");
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(html.contains("Get-Service"), "{html}");
    }
}
