//! API token secrets.
//!
//! A token is `ctxy_` followed by 43 characters of URL-safe base64: 256 bits
//! from the operating system's CSPRNG (through `rand`'s thread RNG), or, for
//! project tokens, an HMAC-SHA-256 output (see [`ProjectTokenKey`]). Only its
//! SHA-256 [`TokenHash`] is stored. A fast hash is the right one here: slow
//! password hashes exist to stretch guessable secrets, and a 256-bit random
//! value cannot be guessed, so SHA-256 loses nothing and keeps each request's
//! lookup cheap (one indexed equality on the hash).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::access::AccessLevel;
use super::ids::ProjectId;

/// What every token this system issues starts with, so that secret scanners
/// and people can recognise one.
pub const TOKEN_PREFIX: &str = "ctxy_";

/// A token in clear text. Its `Debug` does not show it.
#[derive(Clone)]
pub struct TokenSecret(SecretString);

impl TokenSecret {
    /// A new random token (256 bits).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// A token presented by a client, as received.
    pub fn presented(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        Self(SecretString::from(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// The token text, to hand to the client once.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Its SHA-256, the only form that is stored.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.expose().as_bytes()).into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret([REDACTED])")
    }
}

/// The SHA-256 of a token: what the database holds and what lookups use.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From stored bytes; `None` unless there are exactly 32.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Compares in constant time (for the configured admin token, which is
    /// compared in memory rather than looked up).
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first bytes are enough to tell two apart in a log line.
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The key project tokens are derived from.
///
/// A project token is
/// `HMAC-SHA-256(key, project ‖ incarnation ‖ level ‖ generation)`, so the
/// server can hand out the same token on every call without storing it:
/// recomputing it and finding its hash among the stored ones proves it is the
/// current one. Revoking it moves the (project, level) pair to the next
/// generation, whose token is a different, unrelated value. The project's
/// incarnation (drawn anew for every project, see `projects.incarnation`)
/// keeps a later project with a reused id from getting the old one's tokens.
#[derive(Clone)]
pub struct ProjectTokenKey([u8; 32]);

impl ProjectTokenKey {
    /// Derives the key from a server secret (an HMAC of a fixed label, so the
    /// secret itself is never used as a key directly).
    pub fn derive(secret: &SecretString) -> Self {
        Self(hmac_sha256(
            secret.expose_secret().as_bytes(),
            b"contaxy project-token key v1",
        ))
    }

    /// The token of `project` (in its `incarnation`) at `level` in
    /// `generation`.
    pub fn project_token(
        &self,
        project: &ProjectId,
        incarnation: uuid::Uuid,
        level: AccessLevel,
        generation: i32,
    ) -> TokenSecret {
        let message = format!("project-token v2\0{project}\0{incarnation}\0{level}\0{generation}");
        TokenSecret::from_bytes(&hmac_sha256(&self.0, message.as_bytes()))
    }
}

impl fmt::Debug for ProjectTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProjectTokenKey([REDACTED])")
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_distinct_and_prefixed() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        // 32 bytes → 43 base64 characters without padding.
        assert_eq!(a.expose().len(), TOKEN_PREFIX.len() + 43);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn the_hash_is_the_sha256_of_the_token_text() {
        let token = TokenSecret::presented("abc");
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(token.hash().as_bytes()[..4], [0xba, 0x78, 0x16, 0xbf],);
        assert!(token.hash().ct_eq(&TokenSecret::presented("abc").hash()));
        assert!(!token.hash().ct_eq(&TokenSecret::presented("abd").hash()));
    }

    #[test]
    fn project_tokens_are_deterministic_per_project_incarnation_level_and_generation() {
        let key = ProjectTokenKey::derive(&SecretString::from("server secret"));
        let demo = ProjectId::parse("demo").expect("valid");
        let other = ProjectId::parse("other").expect("valid");
        let born = uuid::Uuid::from_u128(1);
        let reborn = uuid::Uuid::from_u128(2);
        let token = |p: &ProjectId, l, g| key.project_token(p, born, l, g).expose().to_owned();
        let first = token(&demo, AccessLevel::Write, 0);
        assert_eq!(first, token(&demo, AccessLevel::Write, 0));
        assert_ne!(first, token(&demo, AccessLevel::Write, 1));
        assert_ne!(first, token(&demo, AccessLevel::Read, 0));
        assert_ne!(first, token(&other, AccessLevel::Write, 0));
        // A project made anew with the same id gets other tokens.
        assert_ne!(
            first,
            key.project_token(&demo, reborn, AccessLevel::Write, 0)
                .expose()
        );
        let other_key = ProjectTokenKey::derive(&SecretString::from("another secret"));
        assert_ne!(
            first,
            other_key
                .project_token(&demo, born, AccessLevel::Write, 0)
                .expose()
        );
        assert!(first.starts_with(TOKEN_PREFIX));
    }
}
