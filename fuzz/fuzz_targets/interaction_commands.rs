//! Text commands and interaction handles: `providers/src/commands.rs` (`parse_text_command`,
//! `parse_interaction_command`, `is_abort_command`: `/approve`, `/deny`, `/answer`, `/stop`, …)
//! and the gateway's `interactions/handle.rs` (`split`, `button`) and `interactions/choice.rs`
//! (`Choice::resolve`, the stored form).
//!
//! Invariants:
//! - `/stop` or `/abort` (any case, blanks around, nothing else) is the abort command and
//!   nothing else is; otherwise a text command is exactly the interaction command;
//! - an interaction command starts with `/` and a verb word (`approve`/`allow`, `deny`/`reject`,
//!   `answer`), its handle is a non-empty word of the input without whitespace, an answer is
//!   non-empty and trimmed, and the canonical text `/approve h`, `/deny h`, `/answer h text`
//!   parses back to the same command;
//! - `split` gives a code without `:` and the choice after the first `:`, and `button` joins them
//!   back into the handle;
//! - resolving any verb and button choice against an approval gives `Allow`/`Deny`, against a
//!   question `Answer`/`Reject` (an answer is an option label or the trimmed text), or a
//!   non-empty reply; a decision's stored form reads back as the same decision.
#![no_main]

use cowork_cloud_client::{CommandBody, SessionId};
use cowork_fuzz::{is_trimmed, text};
use cowork_gateway::interactions::Choice;
use cowork_gateway::interactions::handle::{button, split};
use cowork_gateway::store::{InteractionKind, NewInteraction};
use cowork_providers::commands::{is_abort_command, parse_interaction_command, parse_text_command};
use cowork_providers::{BindingId, ChatRef, InboundBody, InteractionInput, InteractionVerb, ProviderId};
use libfuzzer_sys::fuzz_target;

fn spec(kind: InteractionKind, options: Vec<String>) -> NewInteraction {
    NewInteraction {
        code: "Ab3dE9xYz1".to_owned(),
        binding_id: BindingId::new("binding"),
        provider_id: ProviderId::new("provider"),
        session_id: SessionId::new("session"),
        chat: ChatRef { chat_id: "chat".to_owned(), thread_id: None },
        kind,
        target_id: "target".to_owned(),
        prompt_text: "Allow?".to_owned(),
        options,
        message_key: "key".to_owned(),
        expires_at: 0,
    }
}

fn check_command(input: &str, command: &InteractionInput) {
    let trimmed = input.trim();
    let rest = trimmed.strip_prefix('/').expect("a command starts with /");
    let word = rest.split(char::is_whitespace).next().unwrap_or_default().to_ascii_lowercase();
    let handle = &command.handle;
    assert!(!handle.is_empty() && !handle.contains(char::is_whitespace), "handle {handle:?}");
    assert!(rest[word.len()..].split_whitespace().next() == Some(handle.as_str()), "the handle is the second word");
    let canonical = match &command.verb {
        InteractionVerb::Approve => {
            assert!(matches!(word.as_str(), "approve" | "allow"), "{word}");
            format!("/approve {handle}")
        }
        InteractionVerb::Deny => {
            assert!(matches!(word.as_str(), "deny" | "reject"), "{word}");
            format!("/deny {handle}")
        }
        InteractionVerb::Answer(answer) => {
            assert_eq!(word, "answer");
            assert!(!answer.is_empty() && is_trimmed(answer), "answer {answer:?}");
            assert!(trimmed.ends_with(answer.as_str()));
            format!("/answer {handle} {answer}")
        }
        InteractionVerb::Click => panic!("a text command is never a click"),
    };
    assert_eq!(parse_interaction_command(&canonical).as_ref(), Some(command), "{canonical:?}");
}

fn check_choice(spec: &NewInteraction, verb: &InteractionVerb, handle_choice: Option<&str>) {
    match Choice::resolve(spec, verb, handle_choice) {
        Ok(choice) => {
            match (spec.kind, &choice) {
                (InteractionKind::Permission, Choice::Allow | Choice::Deny) => {}
                (InteractionKind::Question, Choice::Reject) => {}
                (InteractionKind::Question, Choice::Answer(answer)) => {
                    let typed = matches!(verb, InteractionVerb::Answer(text) if text.trim() == answer);
                    assert!(spec.options.contains(answer) || typed, "answer {answer:?}");
                }
                (kind, choice) => panic!("{kind:?} resolved to {choice:?}"),
            }
            assert_eq!(Choice::from_stored(&choice.stored()), choice, "stored form");
            assert!(!choice.summary().is_empty());
            let allowed = matches!(choice, Choice::Allow);
            match (choice.command("target"), &choice) {
                (CommandBody::PermissionRespond { allowed: a, .. }, Choice::Allow | Choice::Deny) => {
                    assert_eq!(a, allowed)
                }
                (CommandBody::QuestionReply { answers, .. }, Choice::Answer(text)) => {
                    assert_eq!(answers, [text.clone()])
                }
                (CommandBody::QuestionReject { .. }, Choice::Reject) => {}
                (command, choice) => panic!("{choice:?} became {command:?}"),
            }
        }
        Err(reply) => assert!(!reply.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = text(data);
    let input = input.as_ref();

    let abort = is_abort_command(input);
    assert_eq!(abort, matches!(input.trim().to_ascii_lowercase().as_str(), "/stop" | "/abort"));
    let command = parse_interaction_command(input);
    match parse_text_command(input) {
        Some(InboundBody::Abort) => assert!(abort),
        Some(InboundBody::Interaction(interaction)) => {
            assert!(!abort);
            assert_eq!(Some(&interaction), command.as_ref());
        }
        None => assert!(!abort && command.is_none(), "{input:?}"),
        Some(other) => panic!("a text command became {other:?}"),
    }
    if let Some(command) = &command {
        check_command(input, command);
    }

    let (code, choice) = split(input);
    assert!(!code.contains(':'));
    match choice {
        Some(choice) => assert_eq!(button(code, choice), input),
        None => assert_eq!(code, input),
    }

    let options: Vec<String> = input.split('|').take(4).map(str::to_owned).collect();
    let mut verbs = vec![
        InteractionVerb::Click,
        InteractionVerb::Approve,
        InteractionVerb::Deny,
        InteractionVerb::Answer(input.to_owned()),
    ];
    verbs.extend(command.map(|command| command.verb));
    for kind in [InteractionKind::Permission, InteractionKind::Question] {
        let spec = spec(kind, options.clone());
        for verb in &verbs {
            check_choice(&spec, verb, choice);
            check_choice(&spec, verb, None);
        }
    }
});
