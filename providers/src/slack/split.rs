//! Splitting long text into chunks under Slack's per-message limit (in characters), at paragraph
//! boundaries first, then line boundaries, then whitespace, and only as a last resort inside a
//! word. A chunk never ends inside a ``` code fence: when a fence must be split, the chunk closes
//! it and the next chunk reopens it with the same opener line.

/// The longest text of one Slack message we send, in characters (as Open Cowork; it is also the
/// limit of a `section` block's text).
pub const SLACK_TEXT_LIMIT: usize = 3000;

/// The smallest limit honoured (room for a reopened fence, its closing and some text).
const MIN_LIMIT: usize = 40;
/// The fence closing appended to a chunk that ends inside a fence.
const CLOSE_FENCE: &str = "\n```";
/// The longest fence info string carried over when a fence is reopened.
const MAX_INFO_CHARS: usize = 20;

/// Splits `text` into chunks of at most `limit` characters (at least 40); a text that fits is
/// returned whole. Whitespace at the cut points is dropped; nothing else is.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    split_up_to(text, limit, usize::MAX)
}

/// [`split`], stopping after `max_chunks` chunks.
fn split_up_to(text: &str, limit: usize, max_chunks: usize) -> Vec<String> {
    let limit = limit.max(MIN_LIMIT);
    let mut chunks = Vec::new();
    let mut rest = text;
    let mut reopen: Option<String> = None;
    loop {
        let prefix = reopen.as_ref().map(|opener| format!("{opener}\n")).unwrap_or_default();
        let prefix_chars = prefix.chars().count();
        if prefix_chars + rest.chars().count() <= limit {
            if !rest.trim().is_empty() || chunks.is_empty() {
                chunks.push(format!("{prefix}{rest}"));
            }
            return chunks;
        }
        let capacity = limit - prefix_chars - CLOSE_FENCE.len();
        let window_end = rest.char_indices().nth(capacity).map_or(rest.len(), |(at, _)| at);
        let (head_end, line_cut) = choose_cut(rest, window_end, reopen.is_some());
        let head = rest[..head_end].trim_end();
        let open_after = fence_after(reopen.clone(), head);
        let mut chunk = format!("{prefix}{head}");
        if open_after.is_some() {
            chunk.push_str(CLOSE_FENCE);
        }
        if !head.is_empty() {
            chunks.push(chunk);
            if chunks.len() >= max_chunks {
                return chunks;
            }
        }
        let tail = &rest[head_end..];
        rest = if line_cut { tail.trim_start_matches(['\n', '\r']) } else { tail.trim_start() };
        reopen = open_after;
    }
}

/// The first chunk of `text` under `limit`, with `…` on a line of its own when text was cut
/// (used for edits, which can change only one message).
pub fn first_chunk(text: &str, limit: usize) -> String {
    let marker = "\n…";
    if text.chars().count() <= limit.max(MIN_LIMIT) {
        return text.to_owned();
    }
    let shorter = limit.max(MIN_LIMIT + 2) - marker.chars().count();
    let mut first = split_up_to(text, shorter, 1).into_iter().next().unwrap_or_default();
    first.push_str(marker);
    first
}

/// A possible cut after a line, at byte offset `head_end` (before the newline).
struct LineCut {
    head_end: usize,
    paragraph: bool,
    in_fence: bool,
}

/// Picks where the chunk ends (a byte offset at most `window_end`, above zero) and whether that
/// is a line boundary: the last paragraph boundary outside a fence, else the last line boundary
/// outside a fence (either only if it keeps at least a third of the window), else the last line
/// boundary, else the last whitespace, else the window end.
fn choose_cut(rest: &str, window_end: usize, mut in_fence: bool) -> (usize, bool) {
    let mut cuts = Vec::new();
    let mut offset = 0;
    let mut lines = rest.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let head_end = offset + line.trim_end_matches(['\n', '\r']).len();
        offset += line.len();
        if head_end > window_end || !line.ends_with('\n') {
            break;
        }
        let opens = !in_fence && opens_fence(line);
        in_fence = toggle(in_fence, line);
        let paragraph = lines.peek().is_some_and(|next| next.trim().is_empty());
        if head_end > 0 && !opens {
            cuts.push(LineCut { head_end, paragraph, in_fence });
        }
    }
    let min = window_end / 3;
    let pick = cuts
        .iter()
        .rev()
        .find(|cut| cut.paragraph && !cut.in_fence && cut.head_end >= min)
        .or_else(|| cuts.iter().rev().find(|cut| !cut.in_fence && cut.head_end >= min))
        .or_else(|| cuts.last());
    if let Some(cut) = pick {
        return (cut.head_end, true);
    }
    match rest[..window_end].rfind(char::is_whitespace) {
        Some(at) if at > 0 => (at, false),
        _ => (window_end.max(rest.chars().next().map_or(0, char::len_utf8)), false),
    }
}

/// Whether `line` starts a fence (three backticks, not closed on the same line).
fn opens_fence(line: &str) -> bool {
    line.trim_start().strip_prefix("```").is_some_and(|after| !after.contains("```"))
}

/// The fence state after `line`, starting inside a fence or not.
fn toggle(in_fence: bool, line: &str) -> bool {
    if in_fence { !line.trim_start().starts_with("```") } else { opens_fence(line) }
}

/// The opener of the fence still open at the end of `text`, starting from `open`.
fn fence_after(mut open: Option<String>, text: &str) -> Option<String> {
    for line in text.lines() {
        let in_fence = open.is_some();
        if toggle(in_fence, line) == in_fence {
            continue;
        }
        open = if in_fence { None } else { Some(opener(line)) };
    }
    open
}

/// The line that reopens a fence: three backticks and a short one-word info string, if any.
fn opener(line: &str) -> String {
    let info = line.trim().trim_start_matches('`');
    let word = info.split_whitespace().next().unwrap_or_default();
    let plain = word.chars().count() <= MAX_INFO_CHARS
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if plain { format!("```{word}") } else { "```".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words outside fence lines, in order (what splitting must keep).
    fn words(text: &str) -> Vec<String> {
        text.lines()
            .filter(|line| !line.trim_start().starts_with("```"))
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect()
    }

    fn fences_balanced(chunk: &str) -> bool {
        chunk.lines().filter(|line| line.trim_start().starts_with("```")).count() % 2 == 0
    }

    fn check(text: &str, limit: usize) -> Vec<String> {
        let chunks = split(text, limit);
        for chunk in &chunks {
            assert!(chunk.chars().count() <= limit, "chunk over {limit}: {chunk:?}");
            assert!(!chunk.trim().is_empty(), "empty chunk");
        }
        // Compared without whitespace: a hard cut splits a word, nothing else may change.
        let joined: String = chunks.iter().flat_map(|chunk| words(chunk)).collect();
        assert_eq!(joined, words(text).concat(), "text lost or reordered");
        chunks
    }

    #[test]
    fn blank_text_over_the_limit_is_one_blank_chunk() {
        // Found by fuzzing: whitespace alone is all cut points; what is left is one blank chunk,
        // as for a blank text that fits (the sender refuses to post it without buttons).
        let blank = format!("{}\n\r\n", " ".repeat(48));
        let chunks = split(&blank, 40);
        assert_eq!(chunks.len(), 1, "{chunks:?}");
        assert!(chunks[0].trim().is_empty() && chunks[0].chars().count() <= 40);
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split("hello", 3000), ["hello"]);
        assert_eq!(split("", 3000), [""]);
        let exact = "x".repeat(3000);
        assert_eq!(split(&exact, 3000), [exact]);
    }

    #[test]
    fn paragraph_boundaries_come_first() {
        let text = format!("{}\n\n{}\nshort line\n{}", "a ".repeat(20).trim(), "b ".repeat(15).trim(), "c".repeat(30));
        let chunks = check(&text, 60);
        assert_eq!(chunks[0], "a ".repeat(20).trim());
        assert!(chunks[1].starts_with('b'));
    }

    #[test]
    fn line_boundaries_then_whitespace_then_hard_cuts() {
        let lines: Vec<String> = (0..40).map(|i| format!("line number {i:02}")).collect();
        let chunks = check(&lines.join("\n"), 100);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|chunk| chunk.lines().all(|line| line.starts_with("line number"))));
        let words_only = "word ".repeat(100);
        let chunks = check(&words_only, 50);
        assert!(chunks.iter().all(|chunk| chunk.split_whitespace().all(|word| word == "word")));
        let one_word = "é".repeat(250);
        let chunks = check(&one_word, 100);
        assert_eq!(chunks.concat(), one_word);
    }

    #[test]
    fn a_fence_that_fits_is_moved_whole_to_the_next_chunk() {
        let prose = "intro ".repeat(12);
        let code = (0..6).map(|i| format!("let x{i} = {i};")).collect::<Vec<_>>().join("\n");
        let text = format!("{prose}\n\n```rust\n{code}\n```\n\nafter");
        let chunks = check(&text, 120);
        assert_eq!(chunks[0], prose.trim_end());
        assert_eq!(chunks.len(), 2, "{chunks:#?}");
        assert!(chunks[1].starts_with("```rust\n") && chunks[1].ends_with("```\n\nafter"), "{chunks:#?}");
        assert!(chunks.iter().all(|chunk| fences_balanced(chunk)), "{chunks:#?}");
    }

    #[test]
    fn a_long_fence_is_closed_and_reopened() {
        let code = (0..60).map(|i| format!("    println!(\"{i}\");")).collect::<Vec<_>>().join("\n");
        let text = format!("Here:\n```rust\n{code}\n```\nDone.");
        let chunks = check(&text, 200);
        assert!(chunks.len() > 3);
        for (index, chunk) in chunks.iter().enumerate() {
            assert!(fences_balanced(chunk), "chunk {index} unbalanced: {chunk:?}");
            if index > 0 && index < chunks.len() - 1 {
                assert!(chunk.starts_with("```rust\n") && chunk.ends_with("\n```"), "{chunk:?}");
            }
        }
        // Indentation inside the code survives the cuts.
        assert!(chunks[1].lines().nth(1).is_some_and(|line| line.starts_with("    println!")));
        assert!(chunks.last().is_some_and(|chunk| chunk.ends_with("Done.")));
    }

    #[test]
    fn an_unclosed_fence_stays_balanced_where_it_is_cut() {
        let text = format!("```\n{}", "code line\n".repeat(30));
        let chunks = check(&text, 80);
        assert!(chunks[..chunks.len() - 1].iter().all(|chunk| fences_balanced(chunk)));
    }

    #[test]
    fn the_slack_limit_holds_for_a_long_reply() {
        let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(8);
        let block = format!("```\n{}```", "fn f() {}\n".repeat(40));
        let text = (0..30).map(|i| if i % 7 == 3 { block.clone() } else { paragraph.clone() }).collect::<Vec<_>>();
        let chunks = check(&text.join("\n\n"), SLACK_TEXT_LIMIT);
        assert!(chunks.len() >= 4);
        assert!(chunks.iter().all(|chunk| fences_balanced(chunk)));
    }

    #[test]
    fn first_chunk_marks_the_cut() {
        assert_eq!(first_chunk("short", 100), "short");
        let long = "word ".repeat(100);
        let first = first_chunk(&long, 100);
        assert!(first.ends_with("\n…") && first.chars().count() <= 100, "{first:?}");
        let fenced = format!("```\n{}```", "x = 1\n".repeat(50));
        let first = first_chunk(&fenced, 100);
        assert!(first.ends_with("```\n…") && first.chars().count() <= 100, "{first:?}");
    }
}
