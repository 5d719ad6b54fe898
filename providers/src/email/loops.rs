//! Loop and abuse protection: why a mail is recorded but never prompts the agent, as the
//! [`crate::InboundBody::Ignored`] reason. First match wins, in this order:
//!
//! | reason | when |
//! |---|---|
//! | `own_address` | the sender is our `from` (or `inboundAddress`): our own mail came back |
//! | `mailer_daemon` | a bounce: sender local part `mailer-daemon` or `postmaster`, `Return-Path: <>`, or a `multipart/report` body |
//! | `auto_submitted` | `Auto-Submitted` other than `no` (RFC 3834), `X-Autoreply`/`X-Autorespond`, or `X-Auto-Response-Suppress` with `All`, `OOF` or `AutoReply` (Exchange sets these on automatic mail) |
//! | `precedence_bulk` | `Precedence: bulk`, `junk` or `list` |
//! | `mailing_list` | `List-Id` or `List-Unsubscribe`: list traffic and newsletters, which an agent address subscribed by mistake would otherwise answer forever |
//! | `authentication_failed` | `requireAuthenticationResults` is on and the trusted verdicts do not pass |
//! | `sender_not_allowed` | `allowedSenders` is set and the sender matches no entry |

use super::address;
use super::config::EmailSettings;
use super::mail::ParsedMail;
use super::verdicts;

/// Why `mail` must not prompt, or `None` when it may.
pub fn ignore_reason(mail: &ParsedMail, settings: &EmailSettings) -> Option<&'static str> {
    let sender = mail.sender.as_ref().map(|s| s.address.as_str()).unwrap_or_default();
    let headers = &mail.headers;
    if sender == settings.from_address() || settings.inbound_address.as_deref() == Some(sender) {
        return Some("own_address");
    }
    let local = address::local_part_of(sender);
    let null_return_path =
        headers.return_path.as_deref().is_some_and(|path| path.trim_matches(['<', '>', ' ']).is_empty());
    if matches!(local, "mailer-daemon" | "postmaster") || null_return_path || headers.is_report {
        return Some("mailer_daemon");
    }
    if is_auto_submitted(mail) {
        return Some("auto_submitted");
    }
    let precedence = headers.precedence.as_deref().map(str::to_ascii_lowercase);
    if precedence.as_deref().is_some_and(|p| matches!(p.trim(), "bulk" | "junk" | "list")) {
        return Some("precedence_bulk");
    }
    if headers.list_marker {
        return Some("mailing_list");
    }
    let required = &settings.require_authentication_results;
    let auth_serv_id = settings.auth_serv_id.as_deref();
    if !verdicts::satisfied(required, auth_serv_id, &headers.authentication_results, address::domain_of(sender)) {
        return Some("authentication_failed");
    }
    if !settings.sender_allowed(sender) {
        return Some("sender_not_allowed");
    }
    None
}

/// RFC 3834 and the common vendor markers of automatic mail.
fn is_auto_submitted(mail: &ParsedMail) -> bool {
    let headers = &mail.headers;
    let auto = headers.auto_submitted.as_deref().map(|value| {
        // Parameters (`auto-replied; owner-email=…`) and comments follow the keyword.
        let keyword = value.split([';', '(']).next().unwrap_or_default().trim().to_ascii_lowercase();
        !keyword.is_empty() && keyword != "no"
    });
    let suppress = headers.auto_response_suppress.as_deref().is_some_and(|value| {
        value
            .split(',')
            .map(|v| v.trim().to_ascii_lowercase())
            .any(|v| matches!(v.as_str(), "all" | "oof" | "autoreply"))
    });
    auto == Some(true) || headers.autoreply_marker || suppress
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::email::address::Sender;
    use crate::email::mail::LoopHeaders;

    fn settings(extra: serde_json::Value) -> EmailSettings {
        let mut value = json!({"from": "Agent <agent@example.com>", "smtpHost": "smtp.example.com"});
        value.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        EmailSettings::from_json(&value).unwrap()
    }

    fn mail(sender: &str, headers: &[(&str, &str)]) -> ParsedMail {
        let mut loop_headers = LoopHeaders::default();
        for (name, value) in headers {
            loop_headers.record(name, value);
        }
        let sender = Some(Sender { address: sender.into(), name: None });
        ParsedMail { message_id: "m@x".into(), sender, headers: loop_headers, ..ParsedMail::default() }
    }

    /// Sender, headers, expected reason.
    type Case = (&'static str, &'static [(&'static str, &'static str)], Option<&'static str>);

    #[test]
    fn each_reason_in_order() {
        let s = settings(json!({"inboundAddress": "in@example.com"}));
        let cases: [Case; 16] = [
            ("ann@example.org", &[], None),
            ("ann@example.org", &[("Auto-Submitted", "no")], None),
            ("ann@example.org", &[("Precedence", "first-class")], None),
            ("agent@example.com", &[], Some("own_address")),
            ("in@example.com", &[], Some("own_address")),
            ("mailer-daemon@example.org", &[], Some("mailer_daemon")),
            ("postmaster@example.org", &[], Some("mailer_daemon")),
            ("ann@example.org", &[("Return-Path", "<>")], Some("mailer_daemon")),
            (
                "ann@example.org",
                &[("Content-Type", "multipart/report; report-type=disposition-notification")],
                Some("mailer_daemon"),
            ),
            ("ann@example.org", &[("Auto-Submitted", "auto-replied; owner-email=x@y")], Some("auto_submitted")),
            ("ann@example.org", &[("X-Autoreply", "yes")], Some("auto_submitted")),
            ("ann@example.org", &[("X-Auto-Response-Suppress", "DR, OOF")], Some("auto_submitted")),
            ("ann@example.org", &[("Precedence", "Bulk")], Some("precedence_bulk")),
            ("ann@example.org", &[("Precedence", "list")], Some("precedence_bulk")),
            ("ann@example.org", &[("List-Id", "<dev.lists.example.org>")], Some("mailing_list")),
            ("ann@example.org", &[("List-Unsubscribe", "<mailto:u@x>")], Some("mailing_list")),
        ];
        for (sender, headers, expected) in cases {
            assert_eq!(ignore_reason(&mail(sender, headers), &s), expected, "{sender} {headers:?}");
        }
        assert_eq!(ignore_reason(&mail("ann@example.org", &[("X-Auto-Response-Suppress", "DR, RN")]), &s), None);
    }

    #[test]
    fn allowlist_and_verdicts() {
        let s = settings(
            json!({"allowedSenders": ["boss@corp.example", "@team.example"], "requireAuthenticationResults": true}),
        );
        let pass = |domain: &str| format!("mx.relay; dmarc=pass header.from={domain}");
        let good = mail("boss@corp.example", &[("Authentication-Results", &pass("corp.example"))]);
        assert_eq!(ignore_reason(&good, &s), None);
        let team = mail("dev@team.example", &[("Authentication-Results", &pass("team.example"))]);
        assert_eq!(ignore_reason(&team, &s), None);
        let stranger = mail("eve@other.example", &[("Authentication-Results", &pass("other.example"))]);
        assert_eq!(ignore_reason(&stranger, &s), Some("sender_not_allowed"));
        let subdomain = mail("dev@sub.team.example", &[("Authentication-Results", &pass("sub.team.example"))]);
        assert_eq!(ignore_reason(&subdomain, &s), Some("sender_not_allowed"));
        let spoofed =
            mail("boss@corp.example", &[("Authentication-Results", "mx.relay; dmarc=fail header.from=corp.example")]);
        assert_eq!(ignore_reason(&spoofed, &s), Some("authentication_failed"));
        assert_eq!(ignore_reason(&mail("boss@corp.example", &[]), &s), Some("authentication_failed"));
    }
}
