//! Which compiled components stay in memory, and for which orgs.
//!
//! Bytes are compiled once and the component shared by every org that runs
//! them, but whether an org finds a component in memory depends on that
//! org's own use alone: were it kept for one org because another runs it,
//! how fast a deploy or a load is would tell the first org what the other
//! runs.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// Compiled components by SHA-256, each held for some orgs.
pub(super) struct Components<T> {
    by_sha: HashMap<String, Held<T>>,
}

struct Held<T> {
    component: T,
    /// Bytes of compiled code.
    size: usize,
    /// The orgs that hold it, each with when it last used it.
    orgs: HashMap<String, Instant>,
}

impl<T: Clone> Components<T> {
    pub(super) fn new() -> Self {
        Self {
            by_sha: HashMap::new(),
        }
    }

    /// The component of `sha` if `org` holds it, marked used.
    pub(super) fn get(&mut self, org: &str, sha: &str) -> Option<T> {
        let held = self.by_sha.get_mut(sha)?;
        *held.orgs.get_mut(org)? = Instant::now();
        Some(held.component.clone())
    }

    /// Holds the component of `sha` (`size` bytes of code) for `org`; the
    /// one held for another org is shared if there is one.
    pub(super) fn put(&mut self, org: &str, sha: &str, component: T, size: usize) {
        let held = self.by_sha.entry(sha.to_owned()).or_insert_with(|| Held {
            component,
            size,
            orgs: HashMap::new(),
        });
        held.orgs.insert(org.to_owned(), Instant::now());
    }

    /// Whether `org` holds the component of `sha`.
    pub(super) fn holds(&self, org: &str, sha: &str) -> bool {
        self.by_sha.get(sha).is_some_and(|h| h.orgs.contains_key(org))
    }

    /// Components held, for any org.
    pub(super) fn len(&self) -> usize {
        self.by_sha.len()
    }

    /// Keeps for each org the components its loaded functions run
    /// (`in_use`, by org and SHA-256) and `keep`; of the others the most
    /// recently used, over all orgs, up to `spare_bytes` of code; lets go
    /// of the rest. A component goes once no org holds it.
    pub(super) fn trim(
        &mut self,
        in_use: &HashSet<(String, String)>,
        keep: (&str, &str),
        spare_bytes: usize,
    ) {
        let now = Instant::now();
        for (org, sha) in in_use {
            if let Some(held) = self.by_sha.get_mut(sha) {
                held.orgs.insert(org.clone(), now);
            }
        }
        let mut spares: Vec<(Instant, usize, String, String)> = Vec::new();
        for (sha, held) in &self.by_sha {
            for (org, used) in &held.orgs {
                let pair = (org.clone(), sha.clone());
                if (org.as_str(), sha.as_str()) != keep && !in_use.contains(&pair) {
                    spares.push((*used, held.size, pair.0, pair.1));
                }
            }
        }
        spares.sort_by_key(|s| std::cmp::Reverse(s.0));
        let mut kept = 0;
        for (_, size, org, sha) in spares {
            kept += size;
            if kept > spare_bytes
                && let Some(held) = self.by_sha.get_mut(&sha)
            {
                held.orgs.remove(&org);
            }
        }
        self.by_sha.retain(|_, held| !held.orgs.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> HashSet<(String, String)> {
        list.iter().map(|(o, s)| (o.to_string(), s.to_string())).collect()
    }

    /// An org finds a component only while it holds it itself: another
    /// org running the same bytes keeps the compiled code in memory, but
    /// not for the first org, whose deploys and loads take as long as if
    /// nobody ran them.
    #[test]
    fn an_org_finds_only_what_it_holds() {
        let mut c = Components::new();
        c.put("theirs", "x", 1, 10);
        assert_eq!(c.get("ours", "x"), None, "never held by us");
        c.put("ours", "x", 2, 10);
        assert_eq!(c.get("ours", "x"), Some(1), "the compiled code is shared");
        // Ours is only a spare and no spare fits; theirs runs it.
        c.trim(&pairs(&[("theirs", "x")]), ("", ""), 0);
        assert_eq!(c.get("ours", "x"), None, "let go for us");
        assert_eq!(c.get("theirs", "x"), Some(1), "kept for them");
        assert!(!c.holds("ours", "x") && c.holds("theirs", "x"));
        // Nobody runs it any more: gone.
        c.trim(&HashSet::new(), ("", ""), 0);
        assert_eq!(c.len(), 0);
    }

    /// Spares stay within the budget, the most recently used first; what
    /// runs and what was just put stay whatever the budget.
    #[test]
    fn spares_stay_within_the_budget() {
        let mut c = Components::new();
        for sha in ["a", "b", "c", "d"] {
            c.put("o", sha, sha.to_owned(), 10);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(c.get("o", "a"), Some("a".to_owned()), "a used last");
        c.put("o", "e", "e".to_owned(), 10);
        c.trim(&pairs(&[("o", "b")]), ("o", "e"), 20);
        let held: Vec<&str> = ["a", "b", "c", "d", "e"]
            .into_iter()
            .filter(|s| c.holds("o", s))
            .collect();
        assert_eq!(
            held,
            ["a", "b", "d", "e"],
            "b runs, e was just put, a and d are the newest spares"
        );
    }
}
