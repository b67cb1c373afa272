//! NATS subjects: which are an org's, which are well formed, and which a
//! filter matches.

/// The first token of every tenant subject.
pub const SUBJECT_ROOT: &str = "mc";

/// Every org's NATS subjects start with `mc.<org>.`: one org can never
/// listen on, or dead-letter into, another's subjects, whatever it is
/// granted. Outside producers publish there, or the operator maps their
/// subjects in (NATS accounts' subject mappings; `docs/SECURITY.md`).
/// Rules stored before subjects had owners are held to it as well: they
/// are not listened on and do not dead-letter until they are changed.
pub fn subject_in_org(subject: &str, org: &str) -> Result<(), String> {
    let mut tokens = subject.split('.');
    let inside = tokens.next() == Some(SUBJECT_ROOT) && tokens.next() == Some(org) && tokens.next().is_some();
    if inside {
        Ok(())
    } else {
        Err(format!(
            "NATS subject {subject:?} is outside org {org:?}'s subjects: they start with \"{SUBJECT_ROOT}.{org}.\""
        ))
    }
}

/// Checks a NATS subject: dot-separated non-empty tokens of printable
/// characters; with `wildcards`, a token may be `*`, and the last may be
/// `>`.
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() || subject.len() > 256 {
        return Err("a subject is 1 to 256 characters".into());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(format!("{subject:?} has an empty token"));
        }
        if t.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(format!("{subject:?} contains whitespace"));
        }
        let wild = *t == "*" || *t == ">";
        if !wildcards && (t.contains('*') || t.contains('>')) {
            return Err(format!("{subject:?}: wildcards are not allowed here"));
        }
        if !wild && (t.contains('*') || t.contains('>')) {
            return Err(format!("{subject:?}: '*' and '>' must be whole tokens"));
        }
        if *t == ">" && i + 1 != tokens.len() {
            return Err(format!("{subject:?}: '>' must be the last token"));
        }
    }
    Ok(())
}

/// Whether `subject` (no wildcards) matches `filter` (with NATS wildcards).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for f in filter.split('.') {
        match (f, s.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_in_their_org() {
        for inside in ["mc.acme.orders", "mc.acme.orders.*", "mc.acme.>"] {
            assert!(subject_in_org(inside, "acme").is_ok(), "{inside}");
        }
        for outside in [
            "orders.new",
            ">",
            "mc.>",
            "mc.*.orders",
            "mc.acme",
            "mc.other.orders",
            "mc.acmex.orders",
            "MC.acme.orders",
            "x.mc.acme.orders",
        ] {
            assert!(subject_in_org(outside, "acme").is_err(), "{outside}");
        }
    }

    #[test]
    fn subjects_match_with_nats_wildcards() {
        assert!(subject_matches("orders.*", "orders.new"));
        assert!(!subject_matches("orders.*", "orders.new.eu"));
        assert!(!subject_matches("orders.*", "orders"));
        assert!(subject_matches("orders.>", "orders.new.eu"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("*.new", "orders.new"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(!subject_matches("a.b.c", "a.b"));
    }

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("orders.*.eu", true).is_ok());
        assert!(check_subject("orders.>", true).is_ok());
        assert!(check_subject("orders.>.x", true).is_err());
        assert!(check_subject("orders..x", true).is_err());
        assert!(check_subject("ord*rs", true).is_err());
        assert!(check_subject("orders.*", false).is_err());
        assert!(check_subject("a b", true).is_err());
    }
}
