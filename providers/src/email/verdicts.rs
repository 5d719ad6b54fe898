//! The relay's SPF, DKIM and DMARC verdicts from `Authentication-Results` (RFC 8601), judged
//! against `requireAuthenticationResults`.
//!
//! Any hop can add such a header, so only trusted ones count: with `authServId` every header of
//! that authserv-id, otherwise only the topmost one (added last, by the relay next to us). A
//! DKIM or SPF pass counts only when aligned with the From domain: the signing domain (`header.d`,
//! or the domain of `header.i`) or the envelope sender's domain (`smtp.mailfrom`) equals it, or
//! one is a subdomain of the other (relaxed alignment, approximated without the public suffix
//! list: the shorter domain must have at least two labels). A DMARC pass must name the same
//! `header.from` when it names one. Trusted SPF or DMARC verdicts that contradict each other
//! fail; for DKIM one aligned passing signature is enough, as in DMARC.

use super::config::{AuthMethod, VerdictRequirement};

/// One `method=result` with its properties (`ptype.property=value`), lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    method: String,
    result: String,
    properties: Vec<(String, String)>,
}

impl Verdict {
    fn property(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Whether the trusted headers satisfy `requirement` for mail from `from_domain`.
pub fn satisfied(
    requirement: &VerdictRequirement,
    auth_serv_id: Option<&str>,
    headers: &[String],
    from_domain: &str,
) -> bool {
    let trusted: Vec<(String, Vec<Verdict>)> = match auth_serv_id {
        Some(id) => headers.iter().map(|h| parse(h)).filter(|(server, _)| server == id).collect(),
        None => headers.first().map(|h| parse(h)).into_iter().collect(),
    };
    let verdicts: Vec<Verdict> = trusted.into_iter().flat_map(|(_, verdicts)| verdicts).collect();
    let passes = |method: AuthMethod| {
        let aligned_pass = verdicts.iter().any(|v| passes(v, method, from_domain));
        // SPF and DMARC have one verdict per mail: conflicting trusted ones fail. DKIM may
        // have several signatures, and one good aligned signature is enough.
        let contradicted = method != AuthMethod::Dkim
            && verdicts.iter().any(|v| v.method == method_name(method) && v.result != "pass");
        aligned_pass && !contradicted
    };
    match requirement {
        VerdictRequirement::Off => true,
        VerdictRequirement::Dmarc if verdicts.iter().any(|v| v.method == "dmarc") => passes(AuthMethod::Dmarc),
        VerdictRequirement::Dmarc => passes(AuthMethod::Dkim) || passes(AuthMethod::Spf),
        VerdictRequirement::Each(methods) => methods.iter().all(|method| passes(*method)),
    }
}

/// The method's name in `Authentication-Results`.
fn method_name(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Spf => "spf",
        AuthMethod::Dkim => "dkim",
        AuthMethod::Dmarc => "dmarc",
    }
}

/// Whether one verdict is an (aligned) pass of `method`.
fn passes(verdict: &Verdict, method: AuthMethod, from_domain: &str) -> bool {
    if verdict.result != "pass" {
        return false;
    }
    let domain_of = |value: &str| value.rsplit_once('@').map_or(value, |(_, d)| d).trim_end_matches('.').to_owned();
    match method {
        AuthMethod::Dmarc => {
            verdict.method == method_name(method)
                && verdict.property("header.from").is_none_or(|d| domain_of(d) == from_domain)
        }
        AuthMethod::Dkim => {
            let signer = verdict.property("header.d").or(verdict.property("header.i")).map(domain_of);
            verdict.method == method_name(method) && signer.is_some_and(|d| aligned(&d, from_domain))
        }
        AuthMethod::Spf => {
            let sender = verdict.property("smtp.mailfrom").map(domain_of);
            verdict.method == method_name(method) && sender.is_some_and(|d| aligned(&d, from_domain))
        }
    }
}

/// Relaxed alignment, approximated: equal, or one a subdomain of the other with at least two
/// labels in the shorter.
fn aligned(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.is_empty() && (short == long || (short.contains('.') && long.ends_with(&format!(".{short}"))))
}

/// Parses one header value into its authserv-id and verdicts.
fn parse(header: &str) -> (String, Vec<Verdict>) {
    let cleaned = strip_comments(header).to_ascii_lowercase();
    let mut segments = cleaned.split(';');
    let server = segments.next().and_then(|s| s.split_whitespace().next()).unwrap_or_default().to_owned();
    let verdicts = segments
        .filter_map(|segment| {
            let mut tokens = segment.split_whitespace();
            let (method, result) = tokens.next()?.split_once('=')?;
            let method = method.split('/').next().unwrap_or_default().to_owned();
            let properties = tokens
                .filter_map(|token| token.split_once('='))
                .filter(|(key, _)| key.contains('.'))
                .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
                .collect();
            Some(Verdict { method, result: result.to_owned(), properties })
        })
        .collect();
    (server, verdicts)
}

/// The value without `(comments)` (nested ones included) and with quoted strings kept.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "mx.relay.net; spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=bounce.example.com;\r\n \
        dkim=pass (2048-bit key) header.d=example.com header.s=s1; dmarc=pass (p=REJECT) header.from=example.com";

    fn check(requirement: VerdictRequirement, serv_id: Option<&str>, headers: &[&str]) -> bool {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        satisfied(&requirement, serv_id, &headers, "example.com")
    }

    #[test]
    fn passing_and_failing_relays() {
        let each = |m: &[AuthMethod]| VerdictRequirement::Each(m.to_vec());
        assert!(check(VerdictRequirement::Dmarc, None, &[GOOD]));
        assert!(check(each(&[AuthMethod::Spf, AuthMethod::Dkim, AuthMethod::Dmarc]), None, &[GOOD]));
        let failed = "mx.relay.net; spf=fail smtp.mailfrom=example.com; dkim=none; dmarc=fail header.from=example.com";
        assert!(!check(VerdictRequirement::Dmarc, None, &[failed]));
        assert!(!check(each(&[AuthMethod::Spf]), None, &[failed]));
        assert!(!check(VerdictRequirement::Dmarc, None, &[]));
        assert!(check(VerdictRequirement::Off, None, &[]));
    }

    #[test]
    fn without_dmarc_an_aligned_pass_is_enough_and_unaligned_is_not() {
        let aligned = "mx.relay.net; dkim=pass header.i=@mail.example.com; spf=neutral";
        assert!(check(VerdictRequirement::Dmarc, None, &[aligned]));
        let foreign = "mx.relay.net; dkim=pass header.d=mailer.example; spf=pass smtp.mailfrom=x@evil.example";
        assert!(!check(VerdictRequirement::Dmarc, None, &[foreign]));
        let tld = "mx.relay.net; dkim=pass header.d=com";
        assert!(!check(VerdictRequirement::Dmarc, None, &[tld]));
        let dmarc_other_domain = "mx.relay.net; dmarc=pass header.from=evil.example";
        assert!(!check(VerdictRequirement::Dmarc, None, &[dmarc_other_domain]));
    }

    #[test]
    fn only_trusted_headers_count() {
        let forged = "mx.relay.net; dmarc=pass header.from=example.com";
        let real = "mx.relay.net; dmarc=fail header.from=example.com";
        // The forged header sits below the relay's own: the topmost decides.
        assert!(!check(VerdictRequirement::Dmarc, None, &[real, forged]));
        let other_server = "evil.example; dmarc=pass header.from=example.com";
        assert!(!check(VerdictRequirement::Dmarc, Some("mx.relay.net"), &[other_server]));
        assert!(check(VerdictRequirement::Dmarc, Some("mx.relay.net"), &[other_server, GOOD]));
        // A relay that failed to strip a forged header of its own id: the conflict fails.
        assert!(!check(VerdictRequirement::Dmarc, Some("mx.relay.net"), &[real, forged]));
        let two_signatures = "mx.relay.net; dkim=fail header.d=example.com; dkim=pass header.d=example.com";
        assert!(check(VerdictRequirement::Each(vec![AuthMethod::Dkim]), None, &[two_signatures]));
        assert!(!check(VerdictRequirement::Dmarc, None, &["mx.relay.net; none"]));
    }

    #[test]
    fn comments_and_quotes_do_not_confuse_the_parser() {
        let (server, verdicts) = parse("mx.relay.net 1; dkim=pass (good (nested; =x)) header.d=\"example.com\"");
        assert_eq!(server, "mx.relay.net");
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].property("header.d"), Some("example.com"));
    }
}
