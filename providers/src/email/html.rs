//! HTML-only mail to plain text, for the prompt: tags dropped, `<script>`, `<style>`, `<head>`
//! and `<title>` contents dropped, block elements and `<br>` turned into line breaks, list items
//! into `- ` lines, `<blockquote>` contents prefixed with `> ` (so the quote stripper removes
//! them like plain-text quotes) and entities decoded. Not a renderer: only what a reply needs.

/// Elements whose content is never text.
const HIDDEN: [&str; 4] = ["script", "style", "head", "title"];
/// Elements separated from their surroundings by a blank line.
const PARAGRAPHS: [&str; 14] =
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "pre", "hr", "blockquote", "dl"];
/// Elements that start and end on their own line.
const LINES: [&str; 9] = ["div", "tr", "li", "section", "article", "header", "footer", "dt", "dd"];

/// The text of an HTML document.
pub fn html_to_text(html: &str) -> String {
    let mut out = Output::default();
    let mut rest = html;
    let mut hidden: Option<String> = None;
    while let Some(open) = rest.find('<') {
        if hidden.is_none() {
            out.text(&decode_entities(&rest[..open]));
        }
        let after = &rest[open..];
        if let Some(comment) = after.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some(close) = after.find('>') else {
            // A stray `<` in text, not a tag.
            if hidden.is_none() {
                out.text(&decode_entities(after));
            }
            rest = "";
            break;
        };
        let (name, closing) = tag_name(&after[1..close]);
        rest = &after[close + 1..];
        if let Some(element) = &hidden {
            if closing && name == *element {
                hidden = None;
            }
            continue;
        }
        if !closing && HIDDEN.contains(&name.as_str()) && !after[..close].ends_with('/') {
            hidden = Some(name);
            continue;
        }
        out.tag(&name, closing);
    }
    if hidden.is_none() {
        out.text(&decode_entities(rest));
    }
    out.finish()
}

/// The lowercase name of a tag body (`/div`, `br/`, `a href=…`) and whether it closes.
fn tag_name(body: &str) -> (String, bool) {
    let body = body.trim();
    let (closing, body) = match body.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let name: String = body.chars().take_while(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    (name, closing)
}

/// The text being built, with the current blockquote depth.
#[derive(Default)]
struct Output {
    lines: Vec<String>,
    current: String,
    quote_depth: usize,
    line_depth: usize,
}

impl Output {
    /// Adds text, collapsing whitespace as a browser does.
    fn text(&mut self, text: &str) {
        for (index, word) in text.split(|c: char| c.is_whitespace() && c != '\u{a0}').enumerate() {
            if index > 0 && !self.current.is_empty() && !self.current.ends_with(' ') {
                self.current.push(' ');
            }
            if !word.is_empty() {
                if self.current.is_empty() {
                    self.line_depth = self.quote_depth;
                }
                self.current.push_str(&word.replace('\u{a0}', " "));
            }
        }
    }

    fn tag(&mut self, name: &str, closing: bool) {
        match name {
            "br" => {
                if self.current.is_empty() {
                    self.push_line(String::new());
                } else {
                    self.break_line();
                }
            }
            "li" if !closing => {
                self.break_line();
                self.current.push_str("- ");
                self.line_depth = self.quote_depth;
            }
            "blockquote" => {
                self.paragraph();
                self.quote_depth = if closing { self.quote_depth.saturating_sub(1) } else { self.quote_depth + 1 };
            }
            "td" | "th" if closing => self.current.push(' '),
            _ if PARAGRAPHS.contains(&name) => self.paragraph(),
            _ if LINES.contains(&name) => self.break_line(),
            _ => {}
        }
    }

    /// Ends the current line, if it has text.
    fn break_line(&mut self) {
        let line = std::mem::take(&mut self.current);
        let line = line.trim();
        if !line.is_empty() && line != "-" {
            self.push_line(format!("{}{line}", "> ".repeat(self.line_depth)));
        }
        self.line_depth = self.quote_depth;
    }

    /// Ends the current line and leaves one blank line.
    fn paragraph(&mut self) {
        self.break_line();
        if self.lines.last().is_some_and(|last| !last.is_empty()) {
            self.lines.push(String::new());
        }
    }

    fn push_line(&mut self, line: String) {
        if !(line.is_empty() && self.lines.last().is_some_and(String::is_empty)) {
            self.lines.push(line);
        }
    }

    fn finish(mut self) -> String {
        self.break_line();
        self.lines.join("\n").trim().to_owned()
    }
}

/// Decodes the common named entities and numeric references; unknown ones stay as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| Some((entity(&after[..end])?, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| !c.is_control() || matches!(c, '\n' | '\t'));
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "euro" => '€',
        "copy" => '©',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_breaks_lists_and_entities() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head><body>\
            <p>Hello&nbsp;there,<br>second&amp;line</p><ul><li>one</li><li>two &lt;b&gt;</li></ul>\
            <script>alert(1)</script><!-- hidden --><div>caf&#233; &#x263A; &unknown;</div></body></html>";
        assert_eq!(html_to_text(html), "Hello there,\nsecond&line\n\n- one\n- two <b>\n\ncafé ☺ &unknown;");
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div>Yes please</div><div class=\"gmail_quote\"><div>On Mon, Agent wrote:</div>\
            <blockquote><p>Shall I?</p><blockquote>older</blockquote></blockquote></div>";
        assert_eq!(html_to_text(html), "Yes please\nOn Mon, Agent wrote:\n\n> Shall I?\n\n> > older");
    }

    #[test]
    fn broken_markup_does_not_lose_text() {
        assert_eq!(html_to_text("a < b and c"), "a < b and c");
        assert_eq!(html_to_text("plain text"), "plain text");
        assert_eq!(html_to_text("<p>x</p><script>never closed"), "x");
        assert_eq!(html_to_text("<b>bold</b> <i>it</i>"), "bold it");
    }
}
