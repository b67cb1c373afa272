//! The platform's name rules, one set for the API and for guests: resource
//! names (functions, buckets, secrets, key-value stores, rules...) and
//! object keys.

use crate::caps::backend::BackendError;

/// What a resource name may be, for messages.
pub const NAME_RULE: &str = "1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit";

/// Whether `name` is a valid resource name: [`NAME_RULE`].
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

/// Object and key names: up to 1024 bytes, no empty or `..` segments, no
/// control characters.
pub fn check_key(key: &str) -> Result<(), BackendError> {
    if key.is_empty() || key.len() > 1024 {
        return Err(BackendError::Invalid(format!(
            "a key must be 1 to 1024 bytes long, not {}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(BackendError::Invalid(
            "a key may not contain control characters".into(),
        ));
    }
    if key.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(BackendError::Invalid(format!(
            "key {key:?} has an empty, '.' or '..' segment"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        for good in ["a", "raw/2024/img.png", "a b", "ü/x"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "../x", "a/./b", "a\nb", &"k".repeat(1025)] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_validated() {
        for good in ["raw-images_2", "a", "0day", &"n".repeat(63)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "-a", "_a", "Raw", "a.b", "a/b", "a b", &"n".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
