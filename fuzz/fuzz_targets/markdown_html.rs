//! A reply's Markdown rendered as the HTML alternative of a mail
//! (`providers/src/email/markdown.rs` `to_html_document`, pulldown-cmark underneath), and
//! `escape_html`.
//!
//! What the renderer guarantees (its module documentation): raw HTML in the Markdown is shown as
//! text, images become links, and links other than `http`, `https` and `mailto` lose their
//! target. So, for any input:
//! - the document is the fixed frame around a body in which every tag is one pulldown-cmark's
//!   renderer writes for CommonMark with tables, strikethrough and task lists (`p`, `h1`–`h6`,
//!   `blockquote`, `pre`, `code`, lists, `em`, `strong`, `del`, `a`, tables, `hr`, `br`, the task
//!   list `input`), with only the attributes it writes for that tag, double-quoted, and no `<`,
//!   `>` or `"` inside a value: no `<script>`, `<img>`, event handler or other markup from the
//!   input survives as markup;
//! - outside tags there is no `>` and every `&` starts an entity the escaper writes (`&amp;`,
//!   `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&#x27;`);
//! - every `href` is empty or an `http:`, `https:` or `mailto:` URL (what a browser would parse
//!   from it has one of those schemes, or it is relative);
//! - `escape_html` leaves none of `<>"'` and unescapes back to its input.
#![no_main]

use cowork_fuzz::text;
use cowork_providers::email::escape_html;
use cowork_providers::fuzzing::to_html_document;
use libfuzzer_sys::fuzz_target;

const HEAD: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
    <body style=\"font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; line-height: 1.45\">\n";
const TAIL: &str = "</body></html>\n";
const ENTITIES: [&str; 6] = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;"];

/// The tags the renderer writes and the attributes each may carry.
fn allowed_attributes(tag: &str) -> Option<&'static [&'static str]> {
    Some(match tag {
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "pre" | "ul" | "li" | "em" | "strong"
        | "del" | "table" | "thead" | "tbody" | "tr" | "hr" | "br" => &[],
        "code" => &["class"],
        "ol" => &["start"],
        "th" | "td" => &["style"],
        "a" => &["href", "title"],
        "input" => &["disabled", "type", "checked"],
        _ => return None,
    })
}

fn unescape(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// An href is empty or names http, https or mailto; what a browser parses from it has one of
/// those schemes or is relative.
fn check_href(href: &str) {
    let href = unescape(href);
    if let Ok(url) = url::Url::parse(&href) {
        assert!(matches!(url.scheme(), "http" | "https" | "mailto"), "href {href:?} has scheme {}", url.scheme());
    }
    let mut lower = href.to_ascii_lowercase();
    while let Some(rest) = ["%20", "%09", "%0a", "%0d", "%0b", "%0c"].iter().find_map(|blank| lower.strip_prefix(blank))
    {
        lower = rest.to_owned();
    }
    let lower = lower.trim_start();
    assert!(
        lower.is_empty() || ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme)),
        "href {href:?}"
    );
}

/// Checks one tag starting at `html[0] == '<'`; returns its length.
fn check_tag(html: &str) -> usize {
    let end = html.find('>').unwrap_or_else(|| panic!("an unclosed tag: {html:?}"));
    let inner = &html[1..end];
    assert!(!inner.contains('<'), "`<` inside a tag: {inner:?}");
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let (inner, self_closing) = match inner.strip_suffix('/') {
        Some(rest) => (rest.trim_end_matches(' '), true),
        None => (inner, false),
    };
    let name_len = inner.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &inner[..name_len];
    let attributes = allowed_attributes(name).unwrap_or_else(|| panic!("a tag the renderer never writes: <{inner}>"));
    assert!(!self_closing || matches!(name, "br" | "hr" | "input"), "<{inner}/>");
    let mut rest = &inner[name_len..];
    assert!(!closing || rest.is_empty(), "a closing tag with attributes: {inner:?}");
    while !rest.is_empty() {
        let attribute = rest.strip_prefix(' ').unwrap_or_else(|| panic!("garbage in a tag: {inner:?}"));
        let (key, value) = attribute.split_once("=\"").unwrap_or_else(|| panic!("an unquoted attribute: {inner:?}"));
        assert!(attributes.contains(&key), "attribute {key:?} on <{name}>");
        let close = value.find('"').unwrap_or_else(|| panic!("an unterminated value: {inner:?}"));
        let value_text = &value[..close];
        check_text(value_text);
        if key == "href" {
            check_href(value_text);
        }
        rest = &value[close + 1..];
    }
    end + 1
}

/// Text (between tags, or an attribute value): no `>`, entities only as the escaper writes them.
fn check_text(text: &str) {
    assert!(!text.contains(['<', '>']), "raw markup in text: {text:?}");
    for (at, _) in text.match_indices('&') {
        assert!(ENTITIES.iter().any(|entity| text[at..].starts_with(entity)), "a raw `&`: {:?}", &text[at..]);
    }
}

fuzz_target!(|data: &[u8]| {
    let markdown = text(data);
    let document = to_html_document(&markdown, "");
    let body = document.strip_prefix(HEAD).and_then(|rest| rest.strip_suffix(TAIL)).expect("the document frame");
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let used = check_tag(&rest[open..]);
        rest = &rest[open + used..];
    }
    check_text(rest);
    assert!(!document.to_ascii_lowercase().contains("<script"), "a script tag");

    let escaped = escape_html(&markdown);
    assert!(!escaped.contains(['<', '>', '"', '\'']), "{escaped:?}");
    check_text(&escaped);
    assert_eq!(unescape(&escaped), markdown, "escape_html does not round-trip");
});
