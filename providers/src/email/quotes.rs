//! Reply text without the quoted history and the signature, so the agent sees only what the
//! person wrote this time (the session already holds the earlier turns).
//!
//! Cut at the first of: an attribution line (`On … wrote:`, also wrapped over two lines, and
//! the German, French, Spanish and Dutch forms), Outlook's `-----Original Message-----`, an
//! Outlook header block (`From:` followed within four lines by `Sent:` or `Date:`, with an
//! optional `____` rule above it), or the signature delimiter (`-- `, or `--` once a client
//! trimmed the space). Then every remaining `>` line is dropped (inline replies keep the
//! person's own lines) and so are mobile trailers such as `Sent from my iPhone`.
//!
//! Forwarded messages are kept whole, since forwarding is how people show the agent a mail: a
//! forward marker (`---------- Forwarded message ---------`, `Begin forwarded message:`) ends
//! the search, and a mail whose subject says `Fwd:`/`FW:` is not cut at all.

/// The reply text of `body`, trimmed, blank runs collapsed; `forwarded` keeps the history.
pub fn strip_reply(body: &str, forwarded: bool) -> String {
    let normalized = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.lines().collect();
    if forwarded {
        return collapse_blank_runs(&lines);
    }
    let cut = (0..lines.len())
        .take_while(|&i| !is_forward_marker(lines[i]))
        .find(|&i| starts_history(&lines, i))
        .unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..cut].iter().copied().filter(|line| !line.trim_start().starts_with('>')).collect();
    while kept.last().is_some_and(|line| line.trim().is_empty() || is_mobile_trailer(line)) {
        kept.pop();
    }
    collapse_blank_runs(&kept)
}

/// Whether a subject marks a forward (`Fwd:`, `FW:`, `WG:`, `TR:`, `RV:`).
pub fn is_forward_subject(subject: &str) -> bool {
    let head = subject.trim_start().split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
    subject.contains(':') && matches!(head.as_str(), "fwd" | "fw" | "wg" | "tr" | "rv")
}

/// `---------- Forwarded message ---------` (Gmail) or `Begin forwarded message:` (Apple Mail).
fn is_forward_marker(line: &str) -> bool {
    let line = line.trim().trim_matches('-').trim().to_ascii_lowercase();
    line == "forwarded message" || line == "begin forwarded message:"
}

/// Whether line `i` starts the quoted history or the signature.
fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    if lines[i].trim_end_matches([' ', '\t']) == "--" || lines[i] == "-- " {
        return true;
    }
    if is_original_message_rule(line) {
        return true;
    }
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
    if is_attribution(line) || (starts_attribution(line) && ends_attribution(next)) {
        return true;
    }
    if line.len() >= 10 && line.chars().all(|c| c == '_') && is_outlook_header_block(lines, i + 1) {
        return true;
    }
    is_outlook_header_block(lines, i)
}

/// `-----Original Message-----`, `----- Original Message -----` and the like.
fn is_original_message_rule(line: &str) -> bool {
    let inner = line.trim_matches('-').trim().to_ascii_lowercase();
    line.starts_with("---")
        && matches!(inner.as_str(), "original message" | "ursprüngliche nachricht" | "message d'origine")
}

/// A complete attribution line.
fn is_attribution(line: &str) -> bool {
    starts_attribution(line) && ends_attribution(line)
}

/// The opening word of an attribution (`On`, `Am`, `Le`, `El`, `Op`).
fn starts_attribution(line: &str) -> bool {
    ["On ", "Am ", "Le ", "El ", "Op "].iter().any(|word| line.starts_with(word))
}

/// The closing phrase of an attribution.
fn ends_attribution(line: &str) -> bool {
    let line = line.trim_end().trim_end_matches(':').trim_end();
    ["wrote", "schrieb", "a écrit", "escribió", "schreef"].iter().any(|word| line.ends_with(word))
        || (line.contains("schrieb") && line.ends_with(">"))
}

/// `From:` here, and `Sent:` or `Date:` within the next four lines.
fn is_outlook_header_block(lines: &[&str], start: usize) -> bool {
    let Some(first) = lines.get(start) else { return false };
    let is_from = |l: &str| ["from:", "von:", "de:"].iter().any(|p| l.trim_start().to_lowercase().starts_with(p));
    let is_sent = |l: &str| {
        ["sent:", "date:", "gesendet:", "envoyé :", "envoyé:", "enviado:"]
            .iter()
            .any(|p| l.trim_start().to_lowercase().starts_with(p))
    };
    let first = first.trim_start().trim_start_matches('*');
    is_from(first) && lines.iter().skip(start + 1).take(4).any(|l| is_sent(l.trim_start().trim_start_matches('*')))
}

/// Trailers mobile clients append (`Sent from my iPhone`, `Get Outlook for Android`).
fn is_mobile_trailer(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("Sent from my ") || line.starts_with("Get Outlook for ")
}

/// Joins lines, trims the ends and keeps at most one blank line in a row.
fn collapse_blank_runs(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank_run = 0;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_and_quotes_are_cut() {
        let body =
            "Yes, go ahead.\r\n\r\nOn Mon, 6 May 2024 at 10:02, Agent <agent@example.com> wrote:\r\n> Shall I?\r\n";
        assert_eq!(strip_reply(body, false), "Yes, go ahead.");
        let wrapped =
            "Fine.\n\nOn Mon, May 6, 2024 at 10:02 AM Open Cowork Agent <agent@example.com>\nwrote:\n\n> Shall I?";
        assert_eq!(strip_reply(wrapped, false), "Fine.");
        assert_eq!(strip_reply("Ja.\n\nAm 06.05.2024 um 10:02 schrieb Agent <a@x.de>:\n> x", false), "Ja.");
        assert_eq!(strip_reply("Oui.\n\nLe lun. 6 mai 2024 à 10:02, Agent <a@x.fr> a écrit :\n> x", false), "Oui.");
    }

    #[test]
    fn outlook_blocks_are_cut() {
        let classic = "Approved.\n\n-----Original Message-----\nFrom: Agent\nSent: Monday\nSubject: x\n\nold";
        assert_eq!(strip_reply(classic, false), "Approved.");
        let web = "Thanks\n\n________________________________\nFrom: Agent <a@x.com>\nSent: Monday, May 6, 2024 10:02 AM\nTo: Ann\n\nold";
        assert_eq!(strip_reply(web, false), "Thanks");
        let bold = "Ok\n\n*From:* Agent\n*Sent:* Monday\n\nold";
        assert_eq!(strip_reply(bold, false), "Ok");
    }

    #[test]
    fn signatures_trailers_and_inline_quotes() {
        assert_eq!(strip_reply("Do it.\n-- \nAnn Lee\nACME", false), "Do it.");
        assert_eq!(strip_reply("Do it.\n--\nAnn", false), "Do it.");
        assert_eq!(strip_reply("Do it.\n\nSent from my iPhone", false), "Do it.");
        let inline = "> Which file?\nthe second one\n> And the format?\nCSV please";
        assert_eq!(strip_reply(inline, false), "the second one\nCSV please");
        assert_eq!(strip_reply("\n\n a\n\n\n\nb \n\n", false), " a\n\nb");
    }

    #[test]
    fn ordinary_text_and_forwards_survive() {
        let text = "From: the logs I see an error.\nOn second thought, the date is wrong.\n-- not a sig --";
        assert_eq!(strip_reply(text, false), text);
        let forward = "Please summarize.\n\n---------- Forwarded message ---------\nFrom: Bob\nDate: Mon\n\nQ3 numbers";
        assert_eq!(strip_reply(forward, false), forward);
        let outlook_forward = "FYI\n\n________________________________\nFrom: Bob\nSent: Monday\n\nQ3 numbers";
        assert_eq!(strip_reply(outlook_forward, true), outlook_forward);
        assert!(is_forward_subject("Fwd: Q3") && is_forward_subject("FW: Q3") && !is_forward_subject("Re: Fwd: Q3"));
        assert!(!is_forward_subject("Fwd") && !is_forward_subject("Fwdx: y"));
        assert_eq!(strip_reply("> only quotes\n> here", false), "");
    }
}
