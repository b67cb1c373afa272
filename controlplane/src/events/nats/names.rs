//! Names on the server: each rule target's consumer, and the stream's
//! subjects (those no other covers).

use super::CONSUMER_PREFIX;
use std::collections::BTreeSet;

/// The consumer name of a rule's target: `mc_<rule id>_<target id>`, with
/// characters NATS does not allow in names replaced.
pub fn consumer_name(rule_id: &str, target_id: &str) -> String {
    let clean: String = target_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{CONSUMER_PREFIX}{rule_id}_{clean}")
}

/// The subjects of `filters` that no other covers (a stream refuses
/// overlapping subjects).
pub fn minimal_subjects<'a>(filters: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let all: BTreeSet<&str> = filters.into_iter().collect();
    all.iter()
        .filter(|f| !all.iter().any(|g| g != *f && covers(g, f)))
        .map(|f| (*f).to_owned())
        .collect()
}

/// Whether every subject `b` matches, `a` matches too.
fn covers(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (i, ta) in a.iter().enumerate() {
        match (*ta, b.get(i)) {
            (">", Some(_)) => return true,
            (_, None) | (_, Some(&">")) => return false,
            ("*", Some(_)) => {}
            (x, Some(y)) if x == *y => {}
            _ => return false,
        }
    }
    a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_subjects_are_reduced() {
        assert_eq!(
            minimal_subjects(["orders.*", "orders.eu", "orders.>", "invoices.new", "orders.eu.x"]),
            vec!["invoices.new".to_owned(), "orders.>".to_owned()]
        );
        assert_eq!(
            minimal_subjects(["a.*.c", "a.b.c", "a.b.*"]),
            vec!["a.*.c".to_owned(), "a.b.*".to_owned()]
        );
        assert!(covers("a.*", "a.*"));
        assert!(!covers("a.*", "a.>"));
        assert!(covers("a.>", "a.*.c"));
        assert!(!covers("a.b", "a.*"));
    }

    #[test]
    fn consumer_names_are_safe() {
        assert_eq!(consumer_name("r1", "thumb.v2"), "mc_r1_thumb_v2");
    }
}
