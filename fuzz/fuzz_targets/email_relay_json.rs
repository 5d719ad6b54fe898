//! The email relay's JSON shape (`providers/src/email/relay_json.rs` `parse`), then the same
//! body through `EmailProvider::parse_inbound` as `application/json` (threading, quote stripping,
//! loop protection and relay verdicts included).
//!
//! Invariants:
//! - a parsed mail has a normalized Message-ID (and normalized threading ids), a sender whose
//!   lowercased address re-parses to itself, a subject without control characters or runs of
//!   whitespace, text and attachments within the documented limits, and loop-protection header
//!   values that are trimmed, bounded and free of control characters;
//! - the provider refuses exactly what the parser refuses (same error), and otherwise gives one
//!   event whose id is the Message-ID, whose chat and sender are the sender address, and whose
//!   reply context (when the mail may prompt) reads back with that Message-ID and a References
//!   chain of 1 to 21 distinct ids;
//! - another secret is refused.
#![no_main]

use cowork_fuzz::email::{self, MAX_ATTACHMENT_BYTES, OPEN, SECRET, STRICT};
use cowork_providers::fuzzing::parse_relay_json;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPE: &str = "application/json";

fuzz_target!(|raw: &[u8]| {
    let parsed = parse_relay_json(raw, MAX_ATTACHMENT_BYTES);
    if let Ok(mail) = &parsed {
        email::check_mail(mail);
    }
    let request = email::request(CONTENT_TYPE, raw, SECRET);
    email::check_provider(&OPEN, &parsed, &request);
    if parsed.is_ok() {
        email::check_provider(&STRICT, &parsed, &request);
    }
    email::check_wrong_secret(&OPEN, CONTENT_TYPE, raw);
});
