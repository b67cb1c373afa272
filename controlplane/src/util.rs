//! Small helpers shared by the control plane.

use sha2::{Digest, Sha256};

/// The cores this process may run on (its affinity and cgroup quota),
/// counted once: the count reads the cgroup's files. `None` when it
/// cannot be told.
pub fn cores() -> Option<usize> {
    static CORES: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .ok()
            .map(std::num::NonZero::get)
    })
}

/// A new time-ordered unique id (UUID v7, simple form).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A new id as [`new_id`], as shared text: made in place, one allocation,
/// for an id that many owners carry (a request's trace id).
pub fn new_shared_id() -> std::sync::Arc<str> {
    let mut text = uuid::Uuid::encode_buffer();
    std::sync::Arc::from(&*uuid::Uuid::now_v7().simple().encode_lower(&mut text))
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

/// `url` without its user information (`postgres://***@db/x`), for
/// messages and logs: a password must never reach either.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// `message` with the password of `url` (if it has one) blanked: a
/// client library's error may quote what it was given.
pub fn scrub_password(message: &str, url: &str) -> String {
    let userinfo = url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .map(|(info, _)| info);
    match userinfo.and_then(|info| info.split_once(':')) {
        Some((_, password)) if !password.is_empty() => message.replace(password, "***"),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        let url = "nats://ops:s3cr@t@nats.internal:4222";
        assert_eq!(redact_url(url), "nats://***@nats.internal:4222");
        let said = "authorization violation for ops:s3cr@t";
        assert_eq!(scrub_password(said, url), "authorization violation for ops:***");
        assert_eq!(scrub_password("refused", "nats://127.0.0.1:4222"), "refused");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    }
}
