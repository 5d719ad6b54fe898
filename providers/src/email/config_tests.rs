//! Unit tests of the email settings: defaults, aliases, every rule and its error message.

use serde_json::{Value, json};

use super::*;

fn parse(value: Value) -> Result<EmailSettings, String> {
    EmailSettings::from_json(&value)
}

fn with(extra: Value) -> Value {
    let mut value = json!({"from": "Agent <agent@example.com>", "smtpHost": "smtp.example.com"});
    value.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    value
}

#[test]
fn defaults() {
    let settings = parse(with(json!({}))).unwrap();
    assert_eq!(settings.from.name.as_deref(), Some("Agent"));
    assert_eq!(settings.from_address(), "agent@example.com");
    assert_eq!(settings.from_domain(), "example.com");
    assert_eq!((settings.smtp_security, settings.smtp_port), (SmtpSecurity::StartTls, 587));
    assert_eq!(settings.max_attachment_bytes, DEFAULT_MAX_ATTACHMENT_BYTES);
    assert_eq!(settings.subject, DEFAULT_SUBJECT);
    assert_eq!(settings.require_authentication_results, VerdictRequirement::Off);
    assert!(settings.allowed_senders.is_empty() && settings.sender_allowed("anyone@anywhere.example"));
    assert_eq!(settings.smtp_username, None);
}

#[test]
fn ports_follow_security_and_open_cowork_smtp_secure_means_tls() {
    assert_eq!(parse(with(json!({"smtpSecurity": "tls"}))).unwrap().smtp_port, 465);
    let secure = parse(with(json!({"smtpSecure": true}))).unwrap();
    assert_eq!((secure.smtp_security, secure.smtp_port), (SmtpSecurity::Tls, 465));
    assert_eq!(parse(with(json!({"smtpSecure": false}))).unwrap().smtp_security, SmtpSecurity::StartTls);
    assert_eq!(
        parse(with(json!({"smtpSecure": true, "smtpSecurity": "tls"}))).unwrap().smtp_security,
        SmtpSecurity::Tls
    );
    let local = parse(with(json!({"smtpHost": "127.0.0.1", "smtpSecurity": "none"}))).unwrap();
    assert_eq!(local.smtp_port, 25);
    for host in ["localhost", "::1", "[::1]", "127.0.0.2", "relay.localhost"] {
        assert!(parse(with(json!({"smtpHost": host, "smtpSecurity": "none"}))).is_ok(), "{host}");
    }
    assert_eq!(parse(with(json!({"smtpPort": 2525}))).unwrap().smtp_port, 2525);
}

#[test]
fn allowed_senders_and_verdicts() {
    let settings = parse(with(json!({
        "allowedSenders": ["Boss@Corp.Example", "@Team.Example"],
        "requireAuthenticationResults": ["DKIM", "dmarc", "dkim"],
        "authServId": "MX.Relay.Example",
    })))
    .unwrap();
    assert!(settings.sender_allowed("boss@corp.example"));
    assert!(settings.sender_allowed("dev@team.example"));
    assert!(!settings.sender_allowed("dev@sub.team.example"));
    assert!(!settings.sender_allowed("other@corp.example"));
    let methods = vec![AuthMethod::Dkim, AuthMethod::Dmarc];
    assert_eq!(settings.require_authentication_results, VerdictRequirement::Each(methods));
    assert_eq!(settings.auth_serv_id.as_deref(), Some("mx.relay.example"));
    let on = parse(with(json!({"requireAuthenticationResults": true}))).unwrap();
    assert_eq!(on.require_authentication_results, VerdictRequirement::Dmarc);
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (json!({"smtpHost": "smtp.example.com"}), "settings.from"),
        (json!({"from": "agent@example.com"}), "settings.smtpHost"),
        (with(json!({"from": "not an address"})), "settings.from"),
        (with(json!({"from": "Agent\r\nBcc: x@y.z <agent@example.com>"})), "settings.from"),
        (with(json!({"smtpSecurity": "ssl"})), "settings.smtpSecurity"),
        (with(json!({"smtpSecurity": "none"})), "settings.smtpSecurity"),
        (with(json!({"smtpHost": "10.0.0.5", "smtpSecurity": "none"})), "settings.smtpSecurity"),
        (with(json!({"smtpHost": "localhost", "smtpSecurity": "none", "smtpUsername": "u"})), "settings.smtpUsername"),
        (with(json!({"smtpSecure": true, "smtpSecurity": "starttls"})), "settings.smtpSecure"),
        (with(json!({"smtpSecure": "yes"})), "settings.smtpSecure"),
        (with(json!({"smtpPort": 0})), "settings.smtpPort"),
        (with(json!({"smtpPort": 70000})), "settings.smtpPort"),
        (with(json!({"smtpHost": "smtp example.com"})), "settings.smtpHost"),
        (with(json!({"smtpHost": "169.254.169.254"})), "settings.smtpHost"),
        (with(json!({"smtpHost": "metadata.google.internal"})), "settings.smtpHost"),
        (with(json!({"allowedSenders": "a@b.c"})), "settings.allowedSenders"),
        (with(json!({"allowedSenders": ["nobody"]})), "settings.allowedSenders[0]"),
        (with(json!({"allowedSenders": ["a@b.c", "@"]})), "settings.allowedSenders[1]"),
        (with(json!({"maxAttachmentBytes": 0})), "settings.maxAttachmentBytes"),
        (with(json!({"maxAttachmentBytes": 15 * 1024 * 1024 + 1})), "settings.maxAttachmentBytes"),
        (with(json!({"requireAuthenticationResults": ["arc"]})), "settings.requireAuthenticationResults"),
        (with(json!({"requireAuthenticationResults": []})), "settings.requireAuthenticationResults"),
        (with(json!({"requireAuthenticationResults": "yes"})), "settings.requireAuthenticationResults"),
        (with(json!({"authServId": "mx relay"})), "settings.authServId"),
        (with(json!({"subject": "Hi\r\nBcc: x@y.z"})), "settings.subject"),
        (with(json!({"inboundAddress": "inbox"})), "settings.inboundAddress"),
        (with(json!({"smtpRootCertificates": "not pem"})), "settings.smtpRootCertificates"),
        (with(json!({"smtpUsername": 5})), "settings.smtpUsername"),
        (with(json!({"smtpPasword": "typo"})), "settings.smtpPasword"),
    ];
    for (value, field) in cases {
        let error = parse(value.clone()).unwrap_err();
        assert!(error.contains(field), "{value}: {error}");
    }
    assert!(parse(json!("x")).is_err());
}

#[test]
fn credentials_never_print() {
    let credentials =
        EmailCredentials { inbound_secrets: vec!["in-secret".into()], smtp_password: Some("smtp-secret".into()) };
    let printed = format!("{credentials:?}");
    assert!(!printed.contains("in-secret") && !printed.contains("smtp-secret"), "{printed}");
}
