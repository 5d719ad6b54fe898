//! The text commands of every provider: `/approve <handle>`, `/deny <handle>`,
//! `/answer <handle> <text>` (and `/allow`, `/reject`) answer approvals and questions; `/stop`
//! (and `/abort`) stops the agent's turn in the thread.

use crate::{InboundBody, InteractionInput, InteractionVerb};

/// Parses a message text as a text command; `None` when it is an ordinary message.
pub fn parse_text_command(text: &str) -> Option<InboundBody> {
    if is_abort_command(text) {
        return Some(InboundBody::Abort);
    }
    parse_interaction_command(text).map(InboundBody::Interaction)
}

/// Whether a message text is `/stop` or `/abort` (any case, nothing after it).
pub fn is_abort_command(text: &str) -> bool {
    let command = text.trim().to_ascii_lowercase();
    command == "/stop" || command == "/abort"
}

/// Parses a message text as an interaction command; `None` when it is an ordinary message.
pub fn parse_interaction_command(text: &str) -> Option<InteractionInput> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (command, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let args = args.trim_start();
    let (handle, tail) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if handle.is_empty() {
        return None;
    }
    let verb = match command.to_ascii_lowercase().as_str() {
        "approve" | "allow" => InteractionVerb::Approve,
        "deny" | "reject" => InteractionVerb::Deny,
        "answer" => {
            let answer = tail.trim();
            if answer.is_empty() {
                return None;
            }
            InteractionVerb::Answer(answer.to_owned())
        }
        _ => return None,
    };
    Some(InteractionInput { handle: handle.to_owned(), verb })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_deny_and_answer_parse() {
        let approve = parse_interaction_command("/approve abc123");
        assert_eq!(approve, Some(InteractionInput { handle: "abc123".into(), verb: InteractionVerb::Approve }));
        let deny = parse_interaction_command("  /deny   abc123 ");
        assert_eq!(deny.map(|i| i.verb), Some(InteractionVerb::Deny));
        let answer = parse_interaction_command("/answer abc123 the blue one");
        assert_eq!(answer.map(|i| i.verb), Some(InteractionVerb::Answer("the blue one".into())));
    }

    #[test]
    fn stop_and_abort_are_the_abort_command() {
        assert_eq!(parse_text_command("/stop"), Some(InboundBody::Abort));
        assert_eq!(parse_text_command("  /ABORT \n"), Some(InboundBody::Abort));
        assert_eq!(parse_text_command("/stop now please"), None, "only the bare command");
        assert_eq!(parse_text_command("please /stop"), None);
        let approve = parse_text_command("/approve abc");
        assert_eq!(
            approve,
            Some(InboundBody::Interaction(InteractionInput { handle: "abc".into(), verb: InteractionVerb::Approve }))
        );
    }

    #[test]
    fn ordinary_text_and_incomplete_commands_are_messages() {
        assert_eq!(parse_interaction_command("hello /approve x"), None);
        assert_eq!(parse_interaction_command("/approve"), None);
        assert_eq!(parse_interaction_command("/answer abc"), None);
        assert_eq!(parse_interaction_command("/help me"), None);
    }
}
