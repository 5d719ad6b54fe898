//! API tokens: `occ_<tokenId>_<secret>` with `tokenId = tok_` + base64url(12 random bytes) and
//! `secret` = base64url(32 random bytes), as Open Cowork mints them. Only a keyed hash is stored:
//! HMAC-SHA256 under the server's token key, so a request costs one hash (no per-request
//! scrypt), and a copy of the database alone does not let anyone test guesses offline when the
//! key is kept outside it (`OPEN_COWORK_CLOUD_TOKEN_HASH_KEY`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The prefix of every API token.
pub const TOKEN_PREFIX: &str = "occ_";

/// The prefix of every token id.
const ID_PREFIX: &str = "tok_";

/// Random bytes in a token id (16 base64url characters).
const ID_BYTES: usize = 12;

/// Random bytes in a token secret (43 base64url characters).
const SECRET_BYTES: usize = 32;

/// The shortest configured hashing key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The version tag of stored hashes.
const HASH_VERSION: &str = "hmac-sha256";

/// The id part of a token: `tok_` + 16 base64url characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct TokenId(String);

impl TokenId {
    /// Parses a token id as the API and the command line take it.
    pub fn parse(value: &str) -> Option<Self> {
        let random = value.strip_prefix(ID_PREFIX)?;
        (random.len() == 16 && random.bytes().all(is_base64url)).then(|| Self(value.to_owned()))
    }

    /// Wraps an id read from the store.
    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TokenId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// A token presented on a request, split into its parts (nothing is looked up yet).
#[derive(Debug)]
pub struct PresentedToken<'a> {
    /// The id to look the stored hash up by.
    pub id: TokenId,
    /// The whole token, to hash.
    whole: &'a str,
}

impl<'a> PresentedToken<'a> {
    /// Splits `occ_<tokenId>_<secret>`; `None` when the shape is wrong, so a malformed token
    /// costs no database query.
    pub fn parse(whole: &'a str) -> Option<Self> {
        let rest = whole.strip_prefix(TOKEN_PREFIX)?;
        // The id is fixed-length and may itself contain `_`, so split by position.
        let id_len = ID_PREFIX.len() + 16;
        let (id, secret) = (rest.get(..id_len)?, rest.get(id_len..)?.strip_prefix('_')?);
        let id = TokenId::parse(id)?;
        (secret.len() == 43 && secret.bytes().all(is_base64url)).then_some(Self { id, whole })
    }
}

/// A newly minted token: its id, the plaintext (shown once), and what is stored.
#[derive(Debug)]
pub struct MintedToken {
    /// The token id.
    pub id: TokenId,
    /// The whole token, to hand to its owner once.
    pub plaintext: Secret,
    /// The last four characters, to tell tokens apart in lists.
    pub last4: String,
    /// The keyed hash to store.
    pub hash: String,
}

/// Computes and checks token hashes under the server's key.
#[derive(Clone)]
pub struct TokenHasher {
    key: Secret,
    /// A short fingerprint of the key, stored with each hash, so a hash made under another key
    /// is recognized as such instead of silently never matching.
    fingerprint: String,
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHasher").field("fingerprint", &self.fingerprint).finish_non_exhaustive()
    }
}

impl TokenHasher {
    /// A hasher under `key` (at least [`MIN_KEY_BYTES`] bytes; callers validate).
    pub fn new(key: Secret) -> Self {
        let digest = Sha256::new().chain_update(b"open-cowork api token key\0").chain_update(key.expose()).finalize();
        let fingerprint = hex::encode(&digest[..4]);
        Self { key, fingerprint }
    }

    /// A fresh random key, base64url, for a store that has none yet.
    pub fn generate_key() -> Secret {
        Secret::new(random_base64url(32))
    }

    /// Mints a new token.
    pub fn mint(&self) -> MintedToken {
        let id = TokenId(format!("{ID_PREFIX}{}", random_base64url(ID_BYTES)));
        let plaintext = format!("{TOKEN_PREFIX}{id}_{}", random_base64url(SECRET_BYTES));
        let last4 = plaintext[plaintext.len() - 4..].to_owned();
        let hash = self.hash(&plaintext);
        MintedToken { id, plaintext: Secret::new(plaintext), last4, hash }
    }

    /// Whether `presented` is the token whose stored hash is `stored`, compared in constant time.
    /// A hash made under another key never matches; that is logged, since it means the key
    /// changed and every older token must be minted again.
    pub fn verify(&self, presented: &PresentedToken<'_>, stored: &str) -> bool {
        if !self.made_here(stored) {
            tracing::warn!(token_id = %presented.id, "API token was hashed under another token key; mint it again");
            return false;
        }
        self.verify_text(presented.whole, stored)
    }

    /// Whether `whole` (any single-use token, such as an interaction's) hashes to `stored`,
    /// compared in constant time.
    pub fn verify_text(&self, whole: &str, stored: &str) -> bool {
        bool::from(self.hash(whole).as_bytes().ct_eq(stored.as_bytes()))
    }

    fn made_here(&self, stored: &str) -> bool {
        stored.starts_with(&format!("{HASH_VERSION}:{}:", self.fingerprint))
    }

    /// The stored form of a token: its keyed hash, tagged with the key's fingerprint.
    pub fn hash(&self, whole: &str) -> String {
        let mac =
            cowork_providers::signature::sign_bytes(self.key.expose().as_bytes(), HASH_VERSION, "", whole.as_bytes());
        format!("{HASH_VERSION}:{}:{}", self.fingerprint, URL_SAFE_NO_PAD.encode(mac))
    }
}

/// `bytes` random bytes, base64url without padding.
pub fn random_base64url(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(key: &str) -> TokenHasher {
        TokenHasher::new(Secret::new(key.to_owned()))
    }

    #[test]
    fn a_minted_token_has_open_coworks_shape_and_verifies() {
        let hasher = hasher("k".repeat(32).as_str());
        let minted = hasher.mint();
        let plaintext = minted.plaintext.expose();
        assert!(plaintext.starts_with("occ_tok_"), "{plaintext}");
        assert_eq!(plaintext.len(), 4 + 20 + 1 + 43);
        assert_eq!(minted.id.as_str().len(), 20);
        assert!(plaintext.ends_with(&minted.last4));
        assert!(!minted.hash.contains(plaintext), "the hash must not hold the token");
        let presented = PresentedToken::parse(plaintext).expect("parses");
        assert_eq!(presented.id, minted.id);
        assert!(hasher.verify(&presented, &minted.hash));
    }

    #[test]
    fn a_wrong_secret_or_key_does_not_verify() {
        let hasher_a = hasher("a".repeat(32).as_str());
        let minted = hasher_a.mint();
        let plaintext = minted.plaintext.expose();
        let mut tampered = plaintext.to_owned();
        let last = tampered.pop().map(|c| if c == 'A' { 'B' } else { 'A' }).unwrap_or('A');
        tampered.push(last);
        let presented = PresentedToken::parse(&tampered).expect("same shape");
        assert!(!hasher_a.verify(&presented, &minted.hash));
        let presented = PresentedToken::parse(plaintext).expect("parses");
        assert!(!hasher("b".repeat(32).as_str()).verify(&presented, &minted.hash));
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        for bad in [
            "",
            "occ_",
            "Bearer occ_tok_AAAAAAAAAAAAAAAA_x",
            "occ_tok_AAAAAAAAAAAAAAAA",
            "occ_tok_AAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "occ_tok_AAAAAAAAAAAAAAAA_short",
            "occ_tok_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
            "occi_tok_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "occ_tok_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad:?} must not parse");
        }
        assert!(
            PresentedToken::parse("occ_tok_A-_AAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_some(),
            "ids may hold - and _"
        );
    }
}
