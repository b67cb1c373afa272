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

/// An org's spare bytes, and its spares: when each was last used, its
/// bytes and its SHA-256.
type OrgSpares<'a> = (usize, Vec<(Instant, usize, &'a str)>);

struct Held<T> {
    component: T,
    /// Bytes it counts for against the budget.
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

    /// Holds the component of `sha` (counting `size` bytes) for `org`; the
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
    /// (`in_use`, by org and SHA-256) and `keep`; of the others (spares)
    /// as many as fit in `spare_bytes`, counted for each org that
    /// holds one; lets go of the rest. Over the budget, the org holding the
    /// most spare bytes lets go of its least recently used first: an org
    /// that deploys new bytes in a loop evicts its own spares down to what
    /// the others hold before it evicts theirs. A component goes once no
    /// org holds it.
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
        // Each org's spares, the least recently used last, and their bytes.
        let mut by_org: HashMap<&str, OrgSpares> = HashMap::new();
        let mut total = 0;
        for (sha, held) in &self.by_sha {
            for (org, used) in &held.orgs {
                let pair = (org.clone(), sha.clone());
                if (org.as_str(), sha.as_str()) != keep && !in_use.contains(&pair) {
                    let spares = by_org.entry(org).or_default();
                    spares.0 += held.size;
                    spares.1.push((*used, held.size, sha));
                    total += held.size;
                }
            }
        }
        let mut gone: Vec<(String, String)> = Vec::new();
        if total > spare_bytes {
            for spares in by_org.values_mut() {
                spares.1.sort_by_key(|s| std::cmp::Reverse(s.0));
            }
            // The org with the most spare bytes, on a tie the one whose
            // least recent spare is the oldest.
            let mut heap: std::collections::BinaryHeap<(usize, std::cmp::Reverse<Instant>, &str)> = by_org
                .iter()
                .filter_map(|(org, (bytes, list))| Some((*bytes, std::cmp::Reverse(list.last()?.0), *org)))
                .collect();
            while total > spare_bytes
                && let Some((_, _, org)) = heap.pop()
            {
                let (bytes, list) = by_org.get_mut(org).expect("every org in the heap has spares");
                let Some((_, size, sha)) = list.pop() else {
                    continue;
                };
                *bytes -= size;
                total -= size;
                gone.push((org.to_owned(), sha.to_owned()));
                if let Some(next) = list.last() {
                    heap.push((*bytes, std::cmp::Reverse(next.0), org));
                }
            }
        }
        for (org, sha) in gone {
            if let Some(held) = self.by_sha.get_mut(&sha) {
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

    /// An org that deploys new bytes in a loop evicts its own spares
    /// before another org's: over the budget, the org holding the most
    /// spare bytes lets go first, its least recently used first.
    #[test]
    fn a_churning_org_evicts_its_own_spares_first() {
        let mut c = Components::new();
        c.put("quiet", "q1", 0, 10);
        c.put("quiet", "q2", 0, 10);
        std::thread::sleep(std::time::Duration::from_millis(2));
        for i in 0..10 {
            c.put("loud", &format!("l{i}"), 0, 10);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // Its latest deploy is kept whatever the budget; five spares fit.
        c.trim(&HashSet::new(), ("loud", "l9"), 50);
        assert!(
            c.holds("quiet", "q1") && c.holds("quiet", "q2"),
            "the quiet org's two older spares stay"
        );
        let loud: Vec<usize> = (0..9).filter(|i| c.holds("loud", &format!("l{i}"))).collect();
        assert_eq!(
            loud,
            [6, 7, 8],
            "the loud org keeps its newest spares within the rest"
        );
        assert!(c.holds("loud", "l9"));
        // At a budget below the quiet org's share too, both go down evenly.
        c.trim(&HashSet::new(), ("", ""), 20);
        assert!(
            c.holds("quiet", "q2") && !c.holds("quiet", "q1"),
            "the quiet org's newest stays"
        );
        assert!(
            c.holds("loud", "l9") && !c.holds("loud", "l8"),
            "and the loud org's newest"
        );
    }
}
