//! Markdown to Slack mrkdwn (`providers/src/slack/mrkdwn.rs` `to_mrkdwn`).
//!
//! What the converter promises: `&`, `<` and `>` are escaped everywhere (code included) except in
//! the Slack link syntax it emits for absolute `http`, `https` and `mailto` URLs. So, for any
//! input:
//! - every `<` in the output opens a link `<url>` or `<url|label>` whose url starts with
//!   `http://`, `https://` or `mailto:`, is longer than 8 bytes, has no whitespace, `|`, `<` or
//!   `>`, and appears verbatim in the input; the label has no `<` or `>`. No `<!channel>`,
//!   `<!here>`, `<@U…>`, `<#C…>` or `<!subteam…>` control sequence can come from user text;
//! - outside link urls every `&` starts `&amp;`, `&lt;` or `&gt;`;
//! - a raw `>` outside links is only the quote marker the converter writes at a line start
//!   (after indentation), followed by a space;
//! - the output has exactly as many lines as the input.
#![no_main]

use cowork_fuzz::text;
use cowork_providers::slack::to_mrkdwn;
use libfuzzer_sys::fuzz_target;

const ENTITIES: [&str; 3] = ["&amp;", "&lt;", "&gt;"];

fn check_entities(text: &str) {
    for (at, _) in text.match_indices('&') {
        assert!(ENTITIES.iter().any(|entity| text[at..].starts_with(entity)), "a raw `&`: {:?}", &text[at..]);
    }
}

/// Checks the link token at `line[0] == '<'`; returns its length.
fn check_link(line: &str, markdown: &str) -> usize {
    let end = line.find('>').unwrap_or_else(|| panic!("an unclosed `<`: {line:?}"));
    let token = &line[1..end];
    assert!(!token.contains('<'), "`<` inside a link: {token:?}");
    let (url, label) = match token.split_once('|') {
        Some((url, label)) => (url, Some(label)),
        None => (token, None),
    };
    assert!(
        ["http://", "https://", "mailto:"].iter().any(|scheme| url.starts_with(scheme)),
        "a control sequence or a link with another scheme: <{token}>"
    );
    assert!(url.len() > 8 && !url.contains(char::is_whitespace), "link url {url:?}");
    assert!(markdown.contains(url), "a link url that is not in the input: {url:?}");
    if let Some(label) = label {
        check_entities(label);
    }
    end + 1
}

fn check_line(line: &str, markdown: &str) {
    let content = line.trim_start();
    let mut rest = match content.strip_prefix("> ") {
        Some(quoted) => quoted, // the quote marker
        None => line,
    };
    while let Some(at) = rest.find(['<', '>']) {
        let text = &rest[..at];
        check_entities(text);
        assert!(rest[at..].starts_with('<'), "a raw `>` outside a link: {line:?}");
        rest = &rest[at + check_link(&rest[at..], markdown)..];
    }
    check_entities(rest);
}

fuzz_target!(|data: &[u8]| {
    let markdown = text(data);
    let output = to_mrkdwn(&markdown);
    assert_eq!(output.split('\n').count(), markdown.split('\n').count(), "lines added or lost");
    for line in output.split('\n') {
        check_line(line, &markdown);
    }
});
