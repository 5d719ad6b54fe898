//! The Slack splitter (`providers/src/slack/split.rs` `split(text, limit)`).
//!
//! Input: two bytes of limit (little-endian, modulo 4096; limits under 40 count as 40), then the
//! text.
//!
//! The documented behaviour, stated precisely: a text of at most `max(limit, 40)` characters is
//! returned whole as the only chunk. Otherwise the text is cut into chunks, and
//! - every chunk has at most `max(limit, 40)` characters and is not blank;
//! - every chunk is `[opener "\n"] core ["\n```"]` where the `"\n```"` closing is appended when
//!   the cut falls inside a code fence and the next chunk then starts with the opener line of that
//!   fence (three backticks and at most 20 characters of `[A-Za-z0-9_+.-]`), and only then;
//! - the text is `w0 core1 w1 core2 w2 … coreN wN` where every `w` is whitespace only: only
//!   whitespace at the cut points is dropped, nothing else is, and nothing is reordered;
//! - no chunk but the last ends inside a code fence (by the splitter's own fence rule: a line
//!   whose first non-blank characters are three backticks opens a fence unless it closes itself,
//!   and closes an open one).
#![no_main]

use std::collections::HashSet;

use cowork_fuzz::text;
use cowork_providers::slack::split;
use libfuzzer_sys::fuzz_target;

const CLOSE_FENCE: &str = "\n```";

/// `chunk` without a reopened fence's opener line, if it starts with one.
fn without_opener(chunk: &str) -> Option<&str> {
    let (line, rest) = chunk.split_once('\n')?;
    let info = line.strip_prefix("```")?;
    let plain = info.chars().count() <= 20
        && info.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    plain.then_some(rest)
}

/// Whether chunks `index..` are the rest of `text` from `at` on (see the module documentation);
/// `reopened` says whether the previous chunk closed a fence that this one reopens.
fn decomposes(
    text: &str,
    chunks: &[String],
    index: usize,
    at: usize,
    reopened: bool,
    failed: &mut HashSet<(usize, usize, bool)>,
) -> bool {
    if index == chunks.len() {
        return text[at..].trim().is_empty();
    }
    if failed.contains(&(index, at, reopened)) {
        return false;
    }
    let chunk = chunks[index].as_str();
    let bodies: Vec<&str> = if reopened { without_opener(chunk).into_iter().collect() } else { vec![chunk] };
    for body in bodies {
        let mut cores = vec![(body, false)];
        if let Some(core) = body.strip_suffix(CLOSE_FENCE) {
            cores.push((core, true));
        }
        for (core, closed) in cores {
            // Skip any whitespace at the cut, then the core must follow verbatim.
            let mut start = at;
            loop {
                if text[start..].starts_with(core)
                    && decomposes(text, chunks, index + 1, start + core.len(), closed, failed)
                {
                    return true;
                }
                match text[start..].chars().next() {
                    Some(c) if c.is_whitespace() => start += c.len_utf8(),
                    _ => break,
                }
            }
        }
    }
    failed.insert((index, at, reopened));
    false
}

/// Whether `chunk` ends inside a code fence, by the splitter's fence rule.
fn ends_in_fence(chunk: &str) -> bool {
    let mut in_fence = false;
    for line in chunk.lines() {
        let line = line.trim_start();
        in_fence = if in_fence {
            !line.starts_with("```")
        } else {
            line.strip_prefix("```").is_some_and(|after| !after.contains("```"))
        };
    }
    in_fence
}

fuzz_target!(|data: &[u8]| {
    let Some((limit, raw)) = data.split_first_chunk::<2>() else { return };
    let limit = usize::from(u16::from_le_bytes(*limit)) % 4096;
    let text = text(raw);
    let text = text.as_ref();
    let max = limit.max(40);
    let chunks = split(text, limit);
    if text.chars().count() <= max {
        assert_eq!(chunks, [text], "a text that fits is one chunk");
        return;
    }
    if text.trim().is_empty() {
        // Nothing but whitespace: all of it is cut-point whitespace, so one blank chunk is left
        // (as for a blank text that fits); the sender refuses to post it without buttons.
        assert!(chunks.len() == 1 && chunks[0].trim().is_empty() && chunks[0].chars().count() <= max, "{chunks:?}");
        return;
    }
    assert!(!chunks.is_empty());
    for chunk in &chunks {
        assert!(chunk.chars().count() <= max, "a chunk over {max}: {chunk:?}");
        assert!(!chunk.trim().is_empty(), "a blank chunk");
    }
    for chunk in &chunks[..chunks.len() - 1] {
        assert!(!ends_in_fence(chunk), "a chunk ends inside a fence: {chunk:?}");
    }
    assert!(
        decomposes(text, &chunks, 0, 0, false, &mut HashSet::new()),
        "text lost, changed or reordered: {chunks:#?}"
    );
});
