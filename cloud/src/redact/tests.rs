//! The redaction rules, one case per kind of secret.

use super::*;

fn redactor() -> Redactor {
    Redactor::new(&[Secret::new("hunter2-configured".into()), Secret::new("abc".into())])
}

#[test]
fn every_builtin_pattern_compiles() {
    assert!(QUOTED_VALUES.as_ref().is_some_and(|all| all.len() == 2));
    assert!(BARE_VALUE.is_some());
    assert!(PATTERNS.as_ref().is_some_and(|all| all.len() == 6));
    assert!(SECRET_KEY_NAME.is_some());
}

#[test]
fn masks_values_of_secret_looking_keys() {
    let r = Redactor::default();
    let cases = [
        ("token=abc123 next", "token=*** next"),
        ("access_token: abc123, more", "access_token: ***, more"),
        ("client_secret=s3cr3t&x=1", "client_secret=***&x=1"),
        ("password = pa55", "password = ***"),
        ("api key: k-123", "api key: ***"),
        ("X-Api-Key=k-123", "X-Api-Key=***"),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("x-slack-signature: deadbeef", "x-slack-signature: ***"),
        (r#"{"token": "a b c", "ok": true}"#, r#"{"token": "***", "ok": true}"#),
        (r#"{"credentials":{"apiKey":"zzz"}}"#, r#"{"credentials":{"apiKey":"***"}}"#),
        ("password='two words'", "password='***'"),
    ];
    for (input, expected) in cases {
        assert_eq!(r.redact(input), expected, "{input}");
    }
}

#[test]
fn masks_secrets_inside_an_escaped_json_log_line() {
    let line = r#"{"fields":{"error":"upstream said {\"token\":\"t0p-s3cret\",\"n\":1}"}}"#;
    let out = Redactor::default().redact(line);
    assert!(!out.contains("t0p-s3cret"), "{out}");
    assert!(out.contains(r#"\"n\":1"#), "{out}");
}

#[test]
fn masks_bearer_tokens_signatures_slack_tokens_and_userinfo() {
    let r = Redactor::default();
    let cases = [
        ("sent Bearer abc.DEF-123 to them", "sent Bearer *** to them"),
        ("v1=0123456789abcdef0123456789abcdef", "v1=***"),
        ("got v0=a1b2c3d4e5f60718293a4b5c6d7e8f90 back", "got v0=*** back"),
        ("xoxb-1234-5678-abcdEFGH used", "xoxb-*** used"),
        ("postgres://app:pw@db:5432/x", "postgres://***@db:5432/x"),
        ("see https://user@example.com/a", "see https://***@example.com/a"),
    ];
    for (input, expected) in cases {
        assert_eq!(r.redact(input), expected, "{input}");
    }
}

#[test]
fn masks_configured_secret_values_anywhere() {
    let out = redactor().redact("platform rejected hunter2-configured (abc is fine)");
    assert_eq!(out, "platform rejected *** (abc is fine)", "short values are not searched for");
}

#[test]
fn leaves_ordinary_text_alone() {
    let text = "authentication failed: signature check failed; 3 tokens left; https://example.com/x?y=1";
    assert_eq!(Redactor::default().redact(text), text);
}

#[test]
fn database_password_is_a_configured_secret() {
    assert_eq!(url_password("postgres://app:pw-long@db/x"), Some("pw-long"));
    assert_eq!(url_password("postgres://app@db/x"), None);
    assert_eq!(url_password("sqlite:/tmp/x.db"), None);
}

#[test]
fn masks_api_tokens_and_model_keys() {
    let line = redactor().redact(
        "used occ_tok_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB and occi_x_1234567890abcdefgh \
         with sk-proj-1234567890abcdefXYZ",
    );
    assert!(!line.contains("BBBB") && !line.contains("1234567890abcdefgh") && !line.contains("abcdefXYZ"), "{line}");
    assert!(line.contains("occ_***") && line.contains("sk-***"), "{line}");
}

#[test]
fn json_values_are_masked_by_key_and_bounded() {
    let value = serde_json::json!({
        "botToken": "xoxb-1",
        "nested": {"clientSecret": "s", "note": "Bearer abcdef", "list": (0..80).collect::<Vec<_>>()},
        "sessionCookie": "c",
        "plain": "x".repeat(600),
        "deep": {"a": {"b": {"c": {"d": {"e": 1}}}}},
    });
    let shown = redactor().redact_json(&value);
    assert_eq!(shown["botToken"], MASK);
    assert_eq!(shown["nested"]["clientSecret"], MASK);
    assert_eq!(shown["sessionCookie"], MASK);
    assert_eq!(shown["nested"]["note"], "Bearer ***");
    assert_eq!(shown["nested"]["list"].as_array().map(Vec::len), Some(50));
    assert_eq!(shown["plain"].as_str().map(str::len), Some(512));
    assert_eq!(shown["deep"]["a"]["b"]["c"]["d"], MASK);
}
