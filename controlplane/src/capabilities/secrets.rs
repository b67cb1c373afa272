//! Secrets, sealed at rest with AES-256-GCM under the master key. A
//! version's associated data is its secret's id and its number, so a
//! ciphertext copied onto another row does not open.

use crate::store::projects::ProjectScope;
use crate::store::secrets::{SealedVersion, SecretRow};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use minicloud_runtime::caps::backend::{BackendError, SecretsBackend};
use std::path::Path;
use std::sync::Arc;

/// Largest secret value, bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Why the master key could not be had, or a value not sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// `MINICLOUD_MASTER_KEY` or the key file is malformed.
    #[error("the master key must be 32 bytes, as 64 hex digits or base64: {0}")]
    Malformed(String),
    /// The key file could not be read or written.
    #[error("cannot use the master key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// Opening failed: the value was sealed under another key, or changed.
    #[error("a secret's stored value does not open with this master key (another key, or tampering)")]
    Open,
}

/// The master key.
#[derive(Clone)]
pub struct Keyring {
    cipher: Arc<Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

fn parse_key(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|e| KeyError::Malformed(e.to_string()))?
    } else {
        B64.decode(text).map_err(|e| KeyError::Malformed(e.to_string()))?
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| KeyError::Malformed(format!("{} bytes", b.len())))
}

impl Keyring {
    /// A keyring over 32 key bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            cipher: Arc::new(Aes256Gcm::new(&key.into())),
        }
    }

    /// The key from `env` (the value of `MINICLOUD_MASTER_KEY`) if set, else
    /// from `file`, which is created (mode 0600) with a random key on the
    /// first start.
    pub fn load(env: Option<&str>, file: &Path) -> Result<Self, KeyError> {
        if let Some(text) = env.filter(|t| !t.trim().is_empty()) {
            return Ok(Self::new(parse_key(text)?));
        }
        let err = |source| KeyError::File {
            path: file.display().to_string(),
            source,
        };
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(Self::new(parse_key(&text)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                crate::util::write_private(file, &hex::encode(key)).map_err(err)?;
                Ok(Self::new(key))
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Seals `plaintext` as version `version` of `secret_id`.
    pub fn seal(&self, secret_id: &str, version: i64, plaintext: &[u8]) -> (String, String) {
        let nonce: [u8; 12] = rand::random();
        let aad = format!("{secret_id}:{version}");
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            // Encryption fails only for inputs past GCM's size limit (64 GiB).
            .unwrap_or_default();
        (B64.encode(nonce), B64.encode(ciphertext))
    }

    /// Opens a sealed version of `secret_id`.
    pub fn open(&self, secret_id: &str, v: &SealedVersion) -> Result<Vec<u8>, KeyError> {
        let nonce = B64.decode(&v.nonce).map_err(|_| KeyError::Open)?;
        let ciphertext = B64.decode(&v.ciphertext).map_err(|_| KeyError::Open)?;
        if nonce.len() != 12 {
            return Err(KeyError::Open);
        }
        let aad = format!("{secret_id}:{}", v.version);
        self.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Open)
    }
}

/// One project's secrets, as functions see them.
#[derive(Debug, Clone)]
pub struct ProjectSecrets {
    scope: ProjectScope,
    keyring: Keyring,
}

impl ProjectSecrets {
    /// The secrets of the project `scope` names.
    pub fn new(scope: ProjectScope, keyring: Keyring) -> Self {
        Self { scope, keyring }
    }

    /// The plaintext of a secret's version (the newest with `None`).
    pub async fn reveal_version(
        &self,
        secret: &SecretRow,
        version: Option<i64>,
    ) -> Result<Option<(i64, String)>, BackendError> {
        let unavailable =
            |e: crate::store::StoreError| BackendError::Unavailable(format!("secrets failed: {e}"));
        let Some(sealed) = self
            .scope
            .secret_version(secret, version)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let plain = self
            .keyring
            .open(&secret.id, &sealed)
            .map_err(|e| BackendError::Unavailable(e.to_string()))?;
        let text = String::from_utf8(plain)
            .map_err(|_| BackendError::Unavailable("a secret's value is not UTF-8".into()))?;
        Ok(Some((sealed.version, text)))
    }
}

#[async_trait::async_trait]
impl SecretsBackend for ProjectSecrets {
    async fn reveal(&self, name: &str) -> Result<String, BackendError> {
        let secret = self
            .scope
            .secret(name)
            .await
            .map_err(|e| BackendError::Unavailable(format!("secrets failed: {e}")))?
            .ok_or_else(|| BackendError::NotFound(format!("no secret {name:?} in this project")))?;
        match self.reveal_version(&secret, None).await? {
            Some((_, value)) => Ok(value),
            None => Err(BackendError::NotFound(format!("secret {name:?} has no versions"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(keyring: &Keyring, id: &str, version: i64, text: &str) -> SealedVersion {
        let (nonce, ciphertext) = keyring.seal(id, version, text.as_bytes());
        SealedVersion {
            version,
            nonce,
            ciphertext,
            created_ms: 0,
        }
    }

    #[test]
    fn seals_and_opens() {
        let k = Keyring::new([7; 32]);
        let v = sealed(&k, "s1", 1, "hunter2");
        assert!(!v.ciphertext.contains("hunter2"));
        assert_eq!(k.open("s1", &v).expect("opens"), b"hunter2");
    }

    #[test]
    fn refuses_other_keys_rows_and_tampering() {
        let k = Keyring::new([7; 32]);
        let v = sealed(&k, "s1", 1, "hunter2");
        assert!(Keyring::new([8; 32]).open("s1", &v).is_err());
        assert!(k.open("s2", &v).is_err());
        let moved = SealedVersion {
            version: 2,
            ..v.clone()
        };
        assert!(k.open("s1", &moved).is_err());
        let mut bytes = B64.decode(&v.ciphertext).expect("base64");
        bytes[0] ^= 1;
        let tampered = SealedVersion {
            ciphertext: B64.encode(bytes),
            ..v
        };
        assert!(k.open("s1", &tampered).is_err());
    }

    #[test]
    fn parses_hex_and_base64_keys() {
        let hex_key = "00".repeat(32);
        assert_eq!(parse_key(&hex_key).expect("hex"), [0; 32]);
        assert_eq!(parse_key(&B64.encode([1u8; 32])).expect("b64"), [1; 32]);
        assert!(parse_key("short").is_err());
        assert!(parse_key(&B64.encode([1u8; 16])).is_err());
    }
}
