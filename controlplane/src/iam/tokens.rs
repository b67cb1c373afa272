//! Credentials: API keys (`mck_<id>_<secret>`), passwords (argon2id), and
//! short-lived access tokens (HS256 JWTs whose header names the signing
//! key, so keys rotate without logging anyone out).

use crate::store::Store;
use crate::util::hash_token;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::sync::RwLock;
use std::time::Duration;

/// What a bearer token claims to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Credential<'a> {
    /// An API key: its public id and its secret.
    ApiKey {
        /// The key id.
        id: &'a str,
        /// The secret half.
        secret: &'a str,
    },
    /// An access token from `/auth/login`.
    Jwt(&'a str),
    /// A token of the foundation's release (`mc_...`), kept working.
    Legacy(&'a str),
}

/// Tells the kinds of bearer token apart by their shape.
pub fn parse(token: &str) -> Credential<'_> {
    if let Some(rest) = token.strip_prefix("mck_")
        && let Some((id, secret)) = rest.split_once('_')
    {
        return Credential::ApiKey { id, secret };
    }
    if token.split('.').count() == 3 {
        return Credential::Jwt(token);
    }
    Credential::Legacy(token)
}

/// 32 random bytes as hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The full API key a client sends.
pub fn api_key_token(id: &str, secret: &str) -> String {
    format!("mck_{id}_{secret}")
}

/// Whether `secret` hashes to `stored`, in constant time.
pub fn secret_matches(secret: &str, stored: &str) -> bool {
    let got = hash_token(secret);
    got.len() == stored.len()
        && got
            .bytes()
            .zip(stored.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// An argon2id hash of a password, in PHC form.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether a password matches its stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's org id.
    pub org: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expires at, epoch seconds.
    pub exp: i64,
    /// Always `access`.
    pub typ: String,
}

/// Why a token was refused; every case is a 401.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, tampered, wrong key, wrong algorithm or expired.
    #[error("the access token is not valid: {0}")]
    Invalid(String),
    /// The store failed while looking up keys.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Signs and verifies access tokens with the keys in the store.
pub struct TokenIssuer {
    store: Store,
    /// `(kid, secret)`, newest first.
    keys: RwLock<Vec<(String, Vec<u8>)>>,
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// Loads the signing keys, creating the first one on a first start.
    pub async fn load(store: Store, ttl: Duration) -> crate::store::Result<Self> {
        let issuer = Self {
            store,
            keys: RwLock::new(Vec::new()),
            ttl,
        };
        issuer.reload().await?;
        if issuer.keys.read().unwrap_or_else(|e| e.into_inner()).is_empty() {
            issuer.rotate().await?;
        }
        Ok(issuer)
    }

    async fn reload(&self) -> crate::store::Result<()> {
        let keys = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .filter_map(|(kid, secret)| hex::decode(secret).ok().map(|s| (kid, s)))
            .collect();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// Adds a new signing key; tokens signed by the previous one keep
    /// verifying, older keys are retired. Returns the new key id.
    pub async fn rotate(&self) -> crate::store::Result<String> {
        let kid = crate::util::new_id();
        self.store.add_signing_key(&kid, &random_secret()).await?;
        let mut keep: Vec<String> = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keep.truncate(2);
        self.store.retire_signing_keys(&keep).await?;
        self.reload().await?;
        Ok(kid)
    }

    /// The access token's lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed access token for a user.
    pub fn issue(&self, user_id: &str, org_id: &str) -> Result<String, TokenError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let Some((kid, secret)) = keys.first() else {
            return Err(TokenError::Invalid("no signing key".into()));
        };
        let now = crate::util::now_ms() / 1000;
        let claims = Claims {
            sub: user_id.to_owned(),
            org: org_id.to_owned(),
            iat: now,
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            typ: "access".into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret))
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Verifies signature, algorithm (HS256 only: `alg: none` and others
    /// are refused), key id and expiry.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("the token names no key (kid)".into()))?;
        let mut secret = self.secret(&kid);
        if secret.is_none() {
            // Another node may have rotated keys since this one loaded them.
            self.reload().await?;
            secret = self.secret(&kid);
        }
        let secret = secret.ok_or_else(|| TokenError::Invalid("unknown or retired signing key".into()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        if data.claims.typ != "access" {
            return Err(TokenError::Invalid("not an access token".into()));
        }
        Ok(data.claims)
    }

    fn secret(&self, kid: &str) -> Option<Vec<u8>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_told_apart_by_shape() {
        assert_eq!(
            parse("mck_abc_def"),
            Credential::ApiKey {
                id: "abc",
                secret: "def"
            }
        );
        assert_eq!(parse("a.b.c"), Credential::Jwt("a.b.c"));
        assert_eq!(parse("mc_0123"), Credential::Legacy("mc_0123"));
    }

    #[test]
    fn secrets_and_passwords_verify() {
        let secret = random_secret();
        assert!(secret_matches(&secret, &hash_token(&secret)));
        assert!(!secret_matches("other", &hash_token(&secret)));
        let hash = hash_password("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }
}
