//! The console's sign-in: the admin token, checked once at the login form, then kept in a
//! `Secure`, `HttpOnly`, `SameSite=Strict` cookie signed by the server (an HMAC under a key
//! derived from the token, so every replica accepts it and changing the token signs everyone
//! out), valid for twelve hours. Every form carries a CSRF token bound to the session.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cowork_providers::signature::sign_joined;
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::store::Millis;

/// The cookie's name.
pub const COOKIE: &str = "occ_console";

/// How long a sign-in lasts.
const LIFETIME_MS: Millis = 12 * 3_600_000;

/// Signs and checks console sessions for one admin token.
#[derive(Clone)]
pub struct Sessions {
    token: Secret,
    key: [u8; 32],
}

/// A signed-in operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// When the sign-in happened (it names the session).
    pub issued_at: Millis,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

impl Sessions {
    /// Sessions for `token`.
    pub fn new(token: Secret) -> Self {
        let key = sign_joined(token.expose().as_bytes(), b":", &[b"open-cowork console session key"]);
        Self { token, key }
    }

    /// Whether `presented` is the admin token (constant time).
    pub fn token_matches(&self, presented: &str) -> bool {
        bool::from(presented.trim().as_bytes().ct_eq(self.token.expose().as_bytes()))
    }

    /// The `Set-Cookie` value of a new session issued at `now`.
    pub fn issue(&self, now: Millis) -> String {
        let body = format!("{now}.{}", URL_SAFE_NO_PAD.encode(self.token.expose()));
        let signature = hex::encode(sign_joined(&self.key, b"|", &[b"cookie", body.as_bytes()]));
        format!(
            "{COOKIE}={body}.{signature}; Path=/console; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
            LIFETIME_MS / 1000
        )
    }

    /// The `Set-Cookie` value that ends the session.
    pub fn clear() -> String {
        format!("{COOKIE}=; Path=/console; Max-Age=0; Secure; HttpOnly; SameSite=Strict")
    }

    /// The session the request's cookie proves at `now`, if any.
    pub fn check(&self, headers: &HeaderMap, now: Millis) -> Option<Session> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))?;
        let (body, signature) = value.rsplit_once('.')?;
        let expected = hex::encode(sign_joined(&self.key, b"|", &[b"cookie", body.as_bytes()]));
        if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
            return None;
        }
        let (issued, token) = body.split_once('.')?;
        let issued_at: Millis = issued.parse().ok()?;
        if now < issued_at || now - issued_at > LIFETIME_MS {
            return None;
        }
        let token = URL_SAFE_NO_PAD.decode(token).ok()?;
        if !bool::from(token.as_slice().ct_eq(self.token.expose().as_bytes())) {
            return None;
        }
        Some(Session { issued_at, csrf: self.csrf(issued_at) })
    }

    /// Whether `presented` is the CSRF token of `session` (constant time).
    pub fn csrf_matches(&self, session: &Session, presented: &str) -> bool {
        bool::from(presented.as_bytes().ct_eq(self.csrf(session.issued_at).as_bytes()))
    }

    fn csrf(&self, issued_at: Millis) -> String {
        hex::encode(sign_joined(&self.key, b"|", &[b"csrf", issued_at.to_string().as_bytes()]))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn cookie_of(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap().to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("other=1; {pair}")).unwrap());
        headers
    }

    #[test]
    fn a_signed_cookie_proves_the_session_until_it_expires_or_the_token_changes() {
        let sessions = Sessions::new(Secret::new("console-admin-token-0123456789abcdef".into()));
        assert!(sessions.token_matches(" console-admin-token-0123456789abcdef "));
        assert!(!sessions.token_matches("console-admin-token-0123456789abcdeX"));
        let set_cookie = sessions.issue(1_000);
        assert!(set_cookie.contains("Secure; HttpOnly; SameSite=Strict"), "{set_cookie}");
        let session = sessions.check(&cookie_of(&set_cookie), 2_000).expect("valid");
        assert!(sessions.csrf_matches(&session, &session.csrf));
        assert!(!sessions.csrf_matches(&session, "0"));
        assert!(sessions.check(&cookie_of(&set_cookie), 1_000 + LIFETIME_MS + 1).is_none(), "expired");
        let other = Sessions::new(Secret::new("a-rotated-admin-token-0123456789abcdef".into()));
        assert!(other.check(&cookie_of(&set_cookie), 2_000).is_none(), "a new token signs everyone out");
        // Tampering with the issue time or the signature is refused.
        let tampered = set_cookie.replacen("=1000.", "=1500.", 1);
        assert!(sessions.check(&cookie_of(&tampered), 2_000).is_none());
        assert!(sessions.check(&HeaderMap::new(), 2_000).is_none());
        // A cookie of another session has another CSRF token.
        let later = sessions.check(&cookie_of(&sessions.issue(1_500)), 2_000).unwrap();
        assert!(!sessions.csrf_matches(&later, &session.csrf));
    }
}
