//! Interaction handles: a short random code per approval or question, and button handles
//! `<code>:<choice>`. At 10 + 1 + at most 2 bytes they fit every platform's button payload
//! (the limit is [`cowork_providers::MAX_HANDLE_BYTES`]); the store maps them to the
//! interaction, so nothing guessable or secret travels in the button.

use rand::Rng;
use rand::distr::Alphanumeric;

const CODE_LEN: usize = 10;

/// A fresh random code (about 59 bits).
pub fn new_code() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(CODE_LEN).map(char::from).collect()
}

/// The payload of one button.
pub fn button(code: &str, choice: &str) -> String {
    format!("{code}:{choice}")
}

/// Splits a handle into its code and the choice a button carries (none for text commands).
pub fn split(handle: &str) -> (&str, Option<&str>) {
    match handle.split_once(':') {
        Some((code, choice)) => (code, Some(choice)),
        None => (handle, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_fit_every_platform_and_split_back() {
        let code = new_code();
        assert_eq!(code.len(), CODE_LEN);
        let handle = button(&code, "12");
        assert!(handle.len() <= cowork_providers::MAX_HANDLE_BYTES);
        assert_eq!(split(&handle), (code.as_str(), Some("12")));
        assert_eq!(split(&code), (code.as_str(), None));
        assert_ne!(new_code(), new_code());
    }
}
