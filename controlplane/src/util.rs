//! Small helpers shared by the control plane.

use sha2::{Digest, Sha256};

/// A new time-ordered unique id (UUID v7, simple form).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    minicloud_runtime::logs::now_ms()
}

/// How tokens are stored: their SHA-256, never the token itself. Tokens are
/// 256 random bits, so a fast hash is enough (no dictionary to attack).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Writes a file only its owner may read (mode 0600), replacing it.
pub fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}
