//! Credentials: API keys (`mck_<id>_<secret>`), passwords (argon2id), and
//! short-lived access tokens (HS256 JWTs whose header names the signing
//! key, so keys rotate without logging anyone out).

use crate::capabilities::secrets::Keyring;
use crate::store::Store;
use crate::store::secrets::SealedVersion;
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

/// A hash of a random password nobody knows (made once, then thrown
/// away), with the same parameters as real ones: checking a login for a
/// user that does not exist, or has no password, costs as much as for one
/// that does, so the answer's timing does not tell which names exist. A
/// constant, not made at start: making it (19 MiB of argon2 memory) ran
/// beside every start and delayed the first response by 6-9 ms of CPU on
/// one core. A test keeps its parameters those of [`hash_password`].
fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$bIngH2OwwRMNfS48r9Otrg$eD5DAhZ9L9vDvcPp9XT1Thtgl+HSyLgQ0i7pcBsLFhc"
}

/// Why a password was not checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Every permit stayed taken for the whole wait.
    #[error("too many password checks under way")]
    Busy,
    /// The blocking task panicked or was cancelled.
    #[error("the password check failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Argon2 verifications on the blocking pool, a few at a time: each one
/// takes tens of milliseconds and ~19 MiB, so a flood of logins must queue
/// (briefly) instead of piling up blocking tasks.
#[derive(Debug)]
pub struct PasswordChecker {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl PasswordChecker {
    /// How long a check waits for a permit before it is refused.
    pub const WAIT: Duration = Duration::from_secs(5);

    /// One permit per core, at most 8 (argon2's memory adds up).
    pub fn default_permits() -> usize {
        crate::util::cores().map_or(2, |n| n.clamp(1, 8))
    }

    /// At most `permits` checks at once; a check waits up to `wait`.
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(permits.max(1))),
            wait,
        }
    }

    /// Whether `password` matches `hash`; with no hash (no such user, or
    /// no password) it is checked against the dummy hash and refused. The
    /// permit goes into the blocking task, so a client that hangs up does
    /// not free it while the hash still runs.
    pub async fn check(&self, password: String, hash: Option<String>) -> Result<bool, CheckError> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| CheckError::Busy)?
            .map_err(|_| CheckError::Busy)?;
        let ok = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match hash {
                Some(hash) => verify_password(&password, &hash),
                None => {
                    // Run for its cost alone (nobody knows the dummy's
                    // password); black_box keeps it from being optimised out.
                    std::hint::black_box(verify_password(&password, dummy_hash()));
                    false
                }
            }
        })
        .await?;
        Ok(ok)
    }
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

/// Signs and verifies access tokens with the keys in the store, where
/// they are sealed under the master key (whoever reads the database
/// cannot mint tokens).
pub struct TokenIssuer {
    store: Store,
    keyring: Keyring,
    /// `(kid, secret)`, newest first.
    keys: RwLock<Vec<(String, Vec<u8>)>>,
    /// When the keys were last read for an unknown `kid`: at most once per
    /// [`RELOAD_EVERY`], so tokens naming made-up keys cost no query each.
    last_miss_reload: std::sync::Mutex<Option<std::time::Instant>>,
    ttl: Duration,
}

/// How often a token with an unknown key id may make the keys reload
/// (another node's rotation shows within this).
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Stored signing keys start with this; anything else is a key written in
/// the clear by an earlier version, sealed on the next start.
const SEALED: &str = "sealed:";

/// The sealed form of a signing key: `sealed:<nonce>:<ciphertext>`, bound
/// to its key id.
fn seal_key(keyring: &Keyring, kid: &str, secret: &[u8]) -> String {
    let (nonce, ciphertext) = keyring.seal(&format!("signing-key/{kid}"), 0, secret);
    format!("{SEALED}{nonce}:{ciphertext}")
}

/// The key bytes of a stored signing key: sealed, or (from an earlier
/// version) hex in the clear. Public for the tests that forge tokens.
pub fn open_key(keyring: &Keyring, kid: &str, stored: &str) -> Option<Vec<u8>> {
    match stored.strip_prefix(SEALED) {
        Some(sealed) => {
            let (nonce, ciphertext) = sealed.split_once(':')?;
            let version = SealedVersion {
                version: 0,
                nonce: nonce.to_owned(),
                ciphertext: ciphertext.to_owned(),
                created_ms: 0,
            };
            keyring.open(&format!("signing-key/{kid}"), &version).ok()
        }
        None => hex::decode(stored).ok(),
    }
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
    pub async fn load(store: Store, keyring: Keyring, ttl: Duration) -> crate::store::Result<Self> {
        let issuer = Self {
            store,
            keyring,
            keys: RwLock::new(Vec::new()),
            last_miss_reload: std::sync::Mutex::new(None),
            ttl,
        };
        // One read of the keys at a start.
        let mut stored = issuer.store.signing_keys().await?;
        issuer.seal_clear_keys(&mut stored).await?;
        issuer.keep(stored);
        if issuer.keys.read().unwrap_or_else(|e| e.into_inner()).is_empty() {
            issuer.rotate().await?;
        }
        Ok(issuer)
    }

    async fn reload(&self) -> crate::store::Result<()> {
        self.keep(self.store.signing_keys().await?);
        Ok(())
    }

    /// Keeps the keys that open with this master key, of those `stored`.
    fn keep(&self, stored: Vec<(String, String)>) {
        let mut keys = Vec::new();
        for (kid, stored) in stored {
            match open_key(&self.keyring, &kid, &stored) {
                Some(secret) => keys.push((kid, secret)),
                None => {
                    tracing::error!(%kid, "a signing key does not open with this master key; tokens it signed are refused")
                }
            }
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// Seals the keys of those `stored` that an earlier version stored in
    /// the clear, in the database and in `stored`.
    async fn seal_clear_keys(&self, stored: &mut [(String, String)]) -> crate::store::Result<()> {
        for (kid, stored) in stored {
            if !stored.starts_with(SEALED)
                && let Ok(secret) = hex::decode(&*stored)
            {
                let sealed = seal_key(&self.keyring, kid, &secret);
                self.store.replace_signing_key(kid, stored, &sealed).await?;
                *stored = sealed;
            }
        }
        Ok(())
    }

    /// Whether a miss may read the keys again now (and notes that it does).
    fn may_reload_for_miss(&self) -> bool {
        let mut last = self.last_miss_reload.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < RELOAD_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Adds a new signing key; tokens signed by the previous one keep
    /// verifying, older keys are retired. Returns the new key id.
    pub async fn rotate(&self) -> crate::store::Result<String> {
        let kid = crate::util::new_id();
        let secret: [u8; 32] = rand::random();
        self.store
            .add_signing_key(&kid, &seal_key(&self.keyring, &kid, &secret))
            .await?;
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
        if secret.is_none() && self.may_reload_for_miss() {
            // Another node may have rotated keys since this one loaded them.
            metrics::counter!("minicloud_signing_key_reloads_total").increment(1);
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

    #[test]
    fn the_dummy_hash_has_the_parameters_of_real_ones() {
        let real = hash_password("p").expect("hashes");
        let dummy = dummy_hash();
        // `$argon2id$v=19$m=..,t=..,p=..$salt$hash`: all but salt and hash.
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(dummy), params(&real));
        assert_ne!(dummy, real);
        assert!(!verify_password("", dummy) && !verify_password("p", dummy));
        // A check against it runs the whole hash (a hash that did not
        // parse would be refused at once).
        assert!(argon2::password_hash::PasswordHash::new(dummy).is_ok());
    }

    #[tokio::test]
    async fn checks_refuse_missing_hashes_and_bound_concurrency() {
        let checker = PasswordChecker::new(1, Duration::from_millis(50));
        let hash = hash_password("right").expect("hashes");
        assert!(
            checker
                .check("right".into(), Some(hash.clone()))
                .await
                .expect("checked")
        );
        assert!(!checker.check("wrong".into(), Some(hash)).await.expect("checked"));
        // No user, or no password: refused whatever is sent.
        assert!(!checker.check(String::new(), None).await.expect("checked"));
        // With the only permit taken, a check gives up after its wait.
        let held = checker.permits.clone().acquire_owned().await.expect("a permit");
        let busy = checker.check("right".into(), None).await;
        assert!(matches!(busy, Err(CheckError::Busy)), "{busy:?}");
        drop(held);
        assert!(!checker.check("x".into(), None).await.expect("checked"));
    }
}
