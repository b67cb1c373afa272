use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub(super) type LoadLocks = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

/// A function's load lock, held while one caller loads it. The last holder
/// removes it (also when its request is dropped mid-load), so names that do
/// not exist leave nothing behind.
pub(super) struct LoadSlot<'a> {
    locks: &'a LoadLocks,
    key: (String, String),
    pub(super) lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> LoadSlot<'a> {
    pub(super) fn take(locks: &'a LoadLocks, key: (String, String)) -> Self {
        let lock = {
            let mut all = locks.lock().unwrap_or_else(|e| e.into_inner());
            all.entry(key.clone()).or_default().clone()
        };
        Self { locks, key, lock }
    }
}

impl Drop for LoadSlot<'_> {
    fn drop(&mut self) {
        let mut all = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // The map's handle and ours: nobody else is waiting.
        if Arc::strong_count(&self.lock) == 2 {
            all.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> (String, String) {
        ("default".to_owned(), name.to_owned())
    }

    #[tokio::test]
    async fn load_locks_are_per_function_and_cleaned_up() {
        let locks = LoadLocks::default();
        let a = LoadSlot::take(&locks, key("a"));
        let _a_held = a.lock.lock().await;
        // Another function's load does not wait for `a`'s.
        let b = LoadSlot::take(&locks, key("b"));
        assert!(b.lock.try_lock().is_ok());
        drop(b);
        // A second caller for `a` shares its lock and waits for it.
        let a2 = LoadSlot::take(&locks, key("a"));
        assert!(Arc::ptr_eq(&a.lock, &a2.lock));
        assert!(a2.lock.try_lock().is_err());
        drop(_a_held);
        drop(a);
        assert_eq!(
            locks.lock().expect("not poisoned").len(),
            1,
            "a2 still waits on `a`"
        );
        drop(a2);
        assert!(
            locks.lock().expect("not poisoned").is_empty(),
            "nothing left behind"
        );
    }
}
