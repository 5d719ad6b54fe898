//! Test issuer keys: an RSA key pair made once per process, its JWKS, and JWTs signed with it
//! (or forged: `alg: none`, HS256 keyed with the public key) for the tests of OIDC auth.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

/// The key id the test JWKS names.
pub const TEST_KID: &str = "test-key-1";

/// An RSA key pair for signing test tokens.
pub struct TestKeys {
    private_der: Vec<u8>,
    public_der: Vec<u8>,
    modulus: String,
    exponent: String,
    kid: String,
}

impl TestKeys {
    /// A fresh 2048-bit key pair.
    pub fn generate() -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap_or_else(|e| panic!("generate an RSA key: {e}"));
        let public = private.to_public_key();
        let private_der = private.to_pkcs1_der().unwrap_or_else(|e| panic!("encode: {e}")).as_bytes().to_vec();
        let public_der = public.to_pkcs1_der().unwrap_or_else(|e| panic!("encode: {e}")).as_bytes().to_vec();
        Self {
            private_der,
            public_der,
            modulus: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            exponent: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            kid: TEST_KID.to_owned(),
        }
    }

    /// These keys under another key id (a rotated key).
    pub fn with_kid(mut self, kid: &str) -> Self {
        kid.clone_into(&mut self.kid);
        self
    }

    /// One key pair shared by every test of the process (making one takes a while).
    pub fn shared() -> &'static Self {
        static KEYS: OnceLock<TestKeys> = OnceLock::new();
        KEYS.get_or_init(Self::generate)
    }

    /// The JWKS publishing the public key under its key id ([`TEST_KID`] unless changed).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [{ "kty": "RSA", "kid": self.kid, "use": "sig", "n": self.modulus, "e": self.exponent }] })
    }

    /// `claims` signed with `alg` (RS256, RS384 or RS512) under the key id.
    pub fn sign(&self, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&self.private_der))
            .unwrap_or_else(|e| panic!("sign: {e}"))
    }

    /// The classic confusion attack: HS256 keyed with the public key's bytes.
    pub fn sign_hs256_with_public_key(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&self.public_der))
            .unwrap_or_else(|e| panic!("sign: {e}"))
    }

    /// An unsigned token (`alg: none`).
    pub fn unsigned(claims: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": TEST_KID}).to_string());
        format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }
}

/// The claims of a valid token for `issuer` and `audience` at `now_secs`, with `role`.
pub fn claims(issuer: &str, audience: &str, now_secs: i64, role: &str) -> Value {
    json!({
        "iss": issuer, "aud": audience, "sub": "subject-1", "iat": now_secs, "exp": now_secs + 600,
        "email": "ada@example.com", "email_verified": true, "role": role,
    })
}
