//! Converting the common Markdown an agent writes into Slack's mrkdwn: `**bold**`/`__bold__` ->
//! `*bold*`, `*italic*`/`_italic_` -> `_italic_`, `~~strike~~` -> `~strike~`, `[label](url)` ->
//! `<url|label>`, `<https://…>` autolinks kept, `# Heading` lines -> `*Heading*`, `- item`/`* item`
//! -> `• item`, `> quote` kept, rules -> a line. Code spans and fences are not reformatted (a
//! fence's language hint is dropped, since Slack would show it as code). `&`, `<` and `>` are
//! escaped everywhere except in the Slack link syntax we emit, code included: Slack parses
//! `<…>` control sequences inside code too, and shows `&lt;` there as `<`.

/// Converts Markdown to Slack mrkdwn.
pub fn to_mrkdwn(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 8);
    let mut in_fence = false;
    for (index, line) in markdown.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(after) = trimmed.strip_prefix("```") {
            if !in_fence && !after.contains("```") && is_info_string(after) {
                out.push_str(indent);
                out.push_str("```");
            } else {
                out.push_str(&escape(line));
            }
            in_fence = if in_fence { false } else { !after.contains("```") };
            continue;
        }
        if in_fence {
            out.push_str(&escape(line));
        } else {
            out.push_str(&convert_line(line));
        }
    }
    out
}

/// Whether the text after an opening fence is only a language hint (or nothing).
fn is_info_string(after: &str) -> bool {
    let after = after.trim();
    !after.contains(char::is_whitespace)
        && after.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.' | '#'))
}

/// One line outside fences: headings, list items, quotes and rules, then inline markup.
fn convert_line(line: &str) -> String {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) && indent.len() <= 3 {
        let content = &trimmed[hashes..];
        if content.starts_with(char::is_whitespace) {
            let content = content.trim().trim_end_matches('#').trim_end();
            let content = strip_pair(content, "**").or_else(|| strip_pair(content, "__")).unwrap_or(content);
            if !content.is_empty() {
                return format!("*{}*", inline(content));
            }
        }
    }
    if is_rule(trimmed) {
        return "──────────".to_owned();
    }
    for bullet in ["- ", "* ", "+ "] {
        if let Some(item) = trimmed.strip_prefix(bullet) {
            return format!("{indent}• {}", inline(item.trim_start()));
        }
    }
    if let Some(quoted) = trimmed.strip_prefix('>') {
        let quoted = quoted.trim_start_matches('>');
        return format!("{indent}> {}", inline(quoted.strip_prefix(' ').unwrap_or(quoted)));
    }
    inline(line)
}

/// `---`, `***` or `___` (three or more, spaces allowed) on a line of its own.
fn is_rule(trimmed: &str) -> bool {
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3 && ['-', '*', '_'].iter().any(|&mark| compact.chars().all(|c| c == mark))
}

/// `text` without the `marker` around it, when it is wrapped in it.
fn strip_pair<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let inner = text.strip_prefix(marker)?.strip_suffix(marker)?;
    (!inner.trim().is_empty()).then_some(inner)
}

/// Inline markup of one line (no fences inside).
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut prev: Option<char> = None;
    while let Some(c) = text[at..].chars().next() {
        let rest = &text[at..];
        let (emitted, used) = match c {
            '`' => code_span(rest),
            '<' => autolink(rest),
            '[' => link(rest),
            '!' if rest.starts_with("![") => link(&rest[1..]).map(|(out, used)| (out, used + 1)),
            '*' if rest.starts_with("**") => emphasis(rest, "**", "*", prev),
            '_' if rest.starts_with("__") => emphasis(rest, "__", "*", prev),
            '~' if rest.starts_with("~~") => emphasis(rest, "~~", "~", prev),
            '*' | '_' => emphasis(rest, &rest[..1], "_", prev),
            _ => None,
        }
        .unwrap_or_else(|| (escape(&rest[..c.len_utf8()]), c.len_utf8()));
        out.push_str(&emitted);
        prev = text[..at + used].chars().next_back();
        at += used;
    }
    out
}

/// A code span of one or more backticks, closed on the same line: escaped, otherwise verbatim.
fn code_span(rest: &str) -> Option<(String, usize)> {
    let ticks = rest.bytes().take_while(|&b| b == b'`').count();
    let fence = &rest[..ticks];
    let end = rest[ticks..].find(fence)?;
    let used = ticks + end + ticks;
    Some((escape(&rest[..used]), used))
}

/// `<https://…>` or `<mailto:…>`: kept as a Slack link.
fn autolink(rest: &str) -> Option<(String, usize)> {
    let end = rest.find('>')?;
    let url = &rest[1..end];
    is_link_target(url).then(|| (format!("<{url}>"), end + 1))
}

/// `[label](url "title")` -> `<url|label>` for absolute http(s) and mailto URLs.
fn link(rest: &str) -> Option<(String, usize)> {
    let close = rest.find(']')?;
    let label = &rest[1..close];
    let after = rest[close + 1..].strip_prefix('(')?;
    let mut depth = 0usize;
    let end = after.char_indices().find_map(|(at, c)| match c {
        '(' => {
            depth += 1;
            None
        }
        ')' if depth == 0 => Some(at),
        ')' => {
            depth -= 1;
            None
        }
        _ => None,
    })?;
    let url = after[..end].split_whitespace().next().unwrap_or_default();
    if !is_link_target(url) {
        return None;
    }
    let used = close + 2 + end + 1;
    let label = label.trim();
    let shown = if label.is_empty() { String::new() } else { format!("|{}", escape(label)) };
    Some((format!("<{url}{shown}>"), used))
}

/// An absolute URL Slack can link, with nothing that would end the `<…|…>` syntax early.
fn is_link_target(url: &str) -> bool {
    let scheme_ok = ["http://", "https://", "mailto:"].iter().any(|scheme| url.starts_with(scheme));
    scheme_ok && url.len() > 8 && !url.contains(|c: char| c.is_whitespace() || matches!(c, '|' | '<' | '>'))
}

/// `{marker}inner{marker}` -> `{emit}inner{emit}`, with the inner text converted too. The opener
/// must be followed, and the closer preceded, by a non-space; `_` markers must stand at word
/// boundaries (so `snake_case_name` stays as is).
fn emphasis(rest: &str, marker: &str, emit: &str, prev: Option<char>) -> Option<(String, usize)> {
    let underscore = marker.starts_with('_');
    if underscore && prev.is_some_and(char::is_alphanumeric) {
        return None;
    }
    let body = &rest[marker.len()..];
    if body.starts_with(char::is_whitespace) || body.starts_with(marker) {
        return None;
    }
    let mut search = 0;
    while let Some(found) = body[search..].find(marker) {
        let end = search + found;
        let inner = &body[..end];
        let after = body[end + marker.len()..].chars().next();
        // A single marker followed by another is a double one; `_` inside a word is no closer.
        let doubled = marker.len() == 1 && body[end + 1..].starts_with(marker);
        let mid_word = underscore && after.is_some_and(char::is_alphanumeric);
        if !(inner.is_empty() || inner.ends_with(char::is_whitespace) || doubled || mid_word) {
            return Some((format!("{emit}{}{emit}", inline(inner)), marker.len() * 2 + end));
        }
        search = end + marker.len();
    }
    None
}

/// Escapes `&`, `<` and `>` as Slack requires.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_table() {
        let table = [
            ("plain text", "plain text"),
            ("**bold** and __bold__", "*bold* and *bold*"),
            ("*italic* and _italic_", "_italic_ and _italic_"),
            ("~~gone~~", "~gone~"),
            ("**bold _and italic_**", "*bold _and italic_*"),
            ("[Docs](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&c=2|Docs>"),
            (
                "[Wiki](https://en.wikipedia.org/wiki/Rust_(language))",
                "<https://en.wikipedia.org/wiki/Rust_(language)|Wiki>",
            ),
            ("[a <b>](https://x.io \"title\")", "<https://x.io|a &lt;b&gt;>"),
            ("![chart](https://x.io/c.png)", "<https://x.io/c.png|chart>"),
            ("[relative](./file.md)", "[relative](./file.md)"),
            ("see <https://x.io/a>", "see <https://x.io/a>"),
            ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
            ("<@U123> <!channel>", "&lt;@U123&gt; &lt;!channel&gt;"),
            ("`**not bold** <x>`", "`**not bold** &lt;x&gt;`"),
            ("``a ` b``", "``a ` b``"),
            ("snake_case_name and __init__ ok", "snake_case_name and *init* ok"),
            ("2 * 3 * 4", "2 * 3 * 4"),
            ("unclosed **bold", "unclosed **bold"),
            ("a `dangling", "a `dangling"),
            ("emoji 🎉 **ü**", "emoji 🎉 *ü*"),
        ];
        for (markdown, expected) in table {
            assert_eq!(to_mrkdwn(markdown), expected, "{markdown}");
        }
    }

    #[test]
    fn line_markup_table() {
        let table = [
            ("# Title", "*Title*"),
            ("### Sub title ###", "*Sub title*"),
            ("## **Bold title**", "*Bold title*"),
            ("#hashtag", "#hashtag"),
            ("- item", "• item"),
            ("* item with **bold**", "• item with *bold*"),
            ("  + nested", "  • nested"),
            ("1. first", "1. first"),
            ("> quoted *text*", "> quoted _text_"),
            ("---", "──────────"),
            ("* * *", "──────────"),
        ];
        for (markdown, expected) in table {
            assert_eq!(to_mrkdwn(markdown), expected, "{markdown}");
        }
    }

    #[test]
    fn fences_are_kept_verbatim_except_escaping_and_the_language_hint() {
        let markdown = "Run:\n```rust\nlet x = **y** < 3 && *z*;\n# not a heading\n```\n**done**";
        let expected = "Run:\n```\nlet x = **y** &lt; 3 &amp;&amp; *z*;\n# not a heading\n```\n*done*";
        assert_eq!(to_mrkdwn(markdown), expected);
        assert_eq!(to_mrkdwn("```inline **code**```"), "```inline **code**```");
        assert_eq!(to_mrkdwn("```\n- a\n"), "```\n- a\n");
        assert_eq!(to_mrkdwn("line\r\n**b**"), "line\r\n*b*");
    }
}
