//! The email provider's address and id-list helpers on arbitrary text: `email/address.rs`
//! (`parse_address`, `parse_mailbox`, `clean_name`) and `email/threading.rs` (`normalize_id`,
//! `parse_id_list`, `cap_chain`, `reply_subject`, `ReplyContext::from_json`).
//!
//! Invariants:
//! - an accepted address is the trimmed input lowercased, at most 254 bytes, with an `@` and no
//!   whitespace or control characters, and re-parses to itself; a mailbox's address does too;
//! - a cleaned display name is non-empty, at most 256 bytes, without control characters;
//! - a normalized id is a fixed point (also inside angle brackets), at most 512 bytes, without
//!   whitespace, control characters or angle brackets; every id of an id list is one, and the
//!   list written back as `<a> <b> …` parses to the same list;
//! - a capped chain keeps the root, has no duplicates, at most 21 ids, in the input's order;
//! - `reply_subject` starts with `Re:` and is idempotent (prefixes never stack);
//! - a stored reply context that reads back is normalized and reads back the same once written.
#![no_main]

use cowork_fuzz::{is_trimmed, no_controls, text};
use cowork_providers::fuzzing::{
    ReplyContext, cap_chain, clean_name, normalize_id, parse_address, parse_id_list, parse_mailbox, reply_subject,
};
use libfuzzer_sys::fuzz_target;

fn check_id(id: &str) {
    assert_eq!(normalize_id(id).as_deref(), Some(id), "not a fixed point: {id:?}");
    assert_eq!(normalize_id(&format!("<{id}>")).as_deref(), Some(id));
    assert!(!id.is_empty() && id.len() <= 512);
    assert!(!id.chars().any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>'), "{id:?}");
}

fn check_chain(input: &[String], capped: &[String]) {
    assert!(capped.len() <= 21, "chain of {}", capped.len());
    for (i, id) in capped.iter().enumerate() {
        assert!(!capped[..i].contains(id), "duplicate {id:?}");
    }
    assert_eq!(capped.first(), input.first(), "the root is kept");
    // In the input's order: each id's first occurrence comes after the previous one's.
    let positions: Vec<usize> =
        capped.iter().map(|id| input.iter().position(|x| x == id).expect("an id of the input")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "order changed");
}

fuzz_target!(|data: &[u8]| {
    let input = text(data);
    let input = input.as_ref();

    if let Some(address) = parse_address(input) {
        let address = address.to_string();
        assert_eq!(address, input.trim().to_lowercase());
        assert!(address.len() <= 254 && address.contains('@'));
        assert!(!address.chars().any(|c| c.is_control() || c.is_whitespace()), "{address:?}");
        assert_eq!(parse_address(&address).map(|a| a.to_string()), Some(address));
    }
    if let Some(sender) = parse_mailbox(input) {
        assert_eq!(parse_address(&sender.address).map(|a| a.to_string()).as_ref(), Some(&sender.address));
        assert_eq!(sender.address, sender.address.to_lowercase());
        if let Some(name) = &sender.name {
            assert!(!name.is_empty() && name.len() <= 256 && no_controls(name), "{name:?}");
        }
    }
    match clean_name(input) {
        Some(name) => {
            assert!(!name.is_empty() && name.len() <= 256 && no_controls(&name), "{name:?}");
            assert!(!name.starts_with(char::is_whitespace), "{name:?}");
        }
        None => assert!(input.chars().all(|c| c.is_control() || c.is_whitespace() || c == '"'), "{input:?}"),
    }

    if let Some(id) = normalize_id(input) {
        check_id(&id);
    }
    let ids = parse_id_list(input);
    for id in &ids {
        check_id(id);
    }
    let written: Vec<String> = ids.iter().map(|id| format!("<{id}>")).collect();
    assert_eq!(parse_id_list(&written.join(" ")), ids, "id list round trip");
    let doubled: Vec<String> = ids.iter().chain(ids.iter().rev()).cloned().collect();
    check_chain(&doubled, &cap_chain(doubled.clone()));

    let subject = reply_subject(input);
    assert!(subject.starts_with("Re:"), "{subject:?}");
    assert_eq!(reply_subject(&subject), subject, "prefixes stacked");
    assert!(is_trimmed(&subject) || subject == "Re:", "{subject:?}");

    if let Some(context) = ReplyContext::from_json(Some(input)) {
        check_id(&context.message_id);
        for id in &context.references {
            check_id(id);
        }
        check_chain(&context.references, &context.references);
        assert_eq!(ReplyContext::from_json(Some(&context.to_json())), Some(context));
    }
});
