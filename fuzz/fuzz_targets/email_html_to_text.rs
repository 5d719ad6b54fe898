//! HTML-only mail to plain text (`providers/src/email/html.rs` `html_to_text`), which both the
//! MIME and the JSON relay parsers apply to outside HTML.
//!
//! Invariants:
//! - the text is trimmed and never has two blank lines in a row;
//! - input without `<` or `&` is plain text: one line with the input's words in order, separated
//!   by spaces (a no-break space counts as a space), except that a lone `-` is dropped;
//! - what sits inside `<script>…</script>` never reaches the text: `a<script>X</script>b` gives
//!   `ab` for any `X` without `<`.
#![no_main]

use cowork_fuzz::text;
use cowork_providers::fuzzing::html_to_text;
use libfuzzer_sys::fuzz_target;

/// The words of `text` (no-break spaces separate words too) joined by single spaces.
fn words(text: &str) -> String {
    text.replace('\u{a0}', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fuzz_target!(|data: &[u8]| {
    let input = text(data);
    let input = input.as_ref();
    let output = html_to_text(input);
    assert_eq!(output.trim(), output, "untrimmed output");
    assert!(!output.contains("\n\n\n"), "two blank lines in a row: {output:?}");
    if !input.contains(['<', '&']) {
        assert!(!output.chars().any(|c| c.is_whitespace() && c != ' '), "{output:?}");
        let expected = words(input);
        let expected = if expected == "-" { String::new() } else { expected };
        assert_eq!(words(&output), expected, "plain text changed");
    }
    if !input.contains('<') {
        assert_eq!(html_to_text(&format!("a<script>{input}</script>b")), "ab", "script content leaked");
    }
});
