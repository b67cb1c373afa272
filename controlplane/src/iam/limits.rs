//! Rate limits: per principal (a token bucket each, refilled
//! continuously), and for logins per source address and per account
//! ([`LoginLimiter`], GCRA from `governor`), with the bound on concurrent
//! password checks ([`LoginGuard`]).

use crate::iam::tokens::PasswordChecker;
use governor::Quota;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token buckets keyed by principal.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests a second on average, bursts of up to `burst`. A rate
    /// of zero turns limiting off.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`; when none is left, the seconds until one
    /// will be.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        self.with_bucket(key, |tokens| {
            if *tokens >= 1.0 {
                *tokens -= 1.0;
                Ok(())
            } else {
                Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
            }
        })
    }

    /// Takes up to `n` tokens for `key`: how many it got.
    pub fn take_up_to(&self, key: &str, n: u64) -> u64 {
        if self.rate <= 0.0 || n == 0 {
            return n;
        }
        self.with_bucket(key, |tokens| {
            let got = (tokens.floor() as u64).min(n);
            *tokens -= got as f64;
            got
        })
    }

    /// Runs `f` on `key`'s bucket, refilled to now.
    fn with_bucket<T>(&self, key: &str, f: impl FnOnce(&mut f64) -> T) -> T {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Bound memory: forget full buckets when the map grows large.
        if buckets.len() > 100_000 {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate < burst);
        }
        let (rate, burst) = (self.rate, self.burst);
        let refill = |(tokens, at): &mut (f64, Instant)| {
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
            *at = now;
        };
        // The key is copied only for a new bucket (this runs once per
        // invocation with log lines).
        if let Some(bucket) = buckets.get_mut(key) {
            refill(bucket);
            return f(&mut bucket.0);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert((burst, now));
        refill(bucket);
        f(&mut bucket.0)
    }
}

/// Keys a login limiter keeps at most. An entry is a few dozen bytes, so
/// this bounds each limiter to a few MiB whatever names attackers send.
const MAX_LOGIN_KEYS: usize = 100_000;

/// How often a full limiter may sweep its idle keys: a sweep walks the
/// whole map under its lock, so a flood must not trigger one per attempt.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

type Keyed<K, C> = governor::RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A keyed limiter whose memory stays bounded. When it holds `max_keys`
/// keys it forgets those back at a full burst (they are
/// indistinguishable from new ones); if every key is still in use it
/// refuses all attempts until some recover. Failing closed is deliberate:
/// flooding it with fresh keys must not reset anyone's limit.
struct BoundedKeyed<K: Hash + Eq + Clone, C: Clock> {
    limiter: Keyed<K, C>,
    max_keys: usize,
    /// How long until every key in use now can be swept: back at a full
    /// burst, plus the one interval governor keeps as a margin.
    full_wait: Duration,
    last_sweep: Mutex<Option<C::Instant>>,
}

impl<K: Hash + Eq + Clone, C: Clock> BoundedKeyed<K, C> {
    fn new(quota: Quota, max_keys: usize, clock: C) -> Self {
        Self {
            limiter: governor::RateLimiter::hashmap_with_clock(quota, clock),
            max_keys,
            full_wait: quota.burst_size_replenished_in() + quota.replenish_interval(),
            last_sweep: Mutex::new(None),
        }
    }

    /// Takes one attempt for `key`; when refused, how long until the next
    /// one is allowed.
    fn check(&self, key: &K) -> Result<(), Duration> {
        let now = self.limiter.clock().now();
        if self.limiter.len() >= self.max_keys {
            self.sweep(now);
            if self.limiter.len() >= self.max_keys {
                return Err(self.full_wait);
            }
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    fn sweep(&self, now: C::Instant) {
        let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| Duration::from(now.duration_since(at)) < SWEEP_EVERY) {
            return;
        }
        *last = Some(now);
        self.limiter.retain_recent();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Which login limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginScope {
    /// Too many attempts from the source address (its /64 for IPv6).
    Address,
    /// Too many attempts on one (org, user name), from anywhere.
    Account,
}

impl LoginScope {
    /// As logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Account => "account",
        }
    }
}

/// A login attempt over a limit. The message is the same for both limits
/// and for names that exist or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many login attempts; retry in {retry_after_secs} s")]
pub struct LoginThrottled {
    /// The limit that refused.
    pub scope: LoginScope,
    /// Whole seconds until an attempt is allowed again (at least 1).
    pub retry_after_secs: u64,
}

/// Login attempts per source address and, separately, per account: the
/// address limit slows one client guessing many names, the account limit
/// slows many clients guessing one name.
pub struct LoginLimiter<C: Clock = DefaultClock> {
    /// `None` when limiting is off (a rate of zero).
    limits: Option<LoginLimits<C>>,
}

struct LoginLimits<C: Clock> {
    by_address: BoundedKeyed<IpAddr, C>,
    /// Keyed by [`account_key`].
    by_account: BoundedKeyed<[u8; 32], C>,
    /// One audit record a minute for the attempts each limit refuses, per
    /// address and per account: refusals are cheap to send, records are
    /// not.
    audited_address: BoundedKeyed<IpAddr, C>,
    audited_account: BoundedKeyed<[u8; 32], C>,
}

impl<C: Clock> std::fmt::Debug for LoginLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("on", &self.limits.is_some())
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// `per_minute` attempts a minute per address and per account, in
    /// bursts of as many; zero turns login limiting off.
    pub fn new(per_minute: u32) -> Self {
        Self::with_clock(per_minute, MAX_LOGIN_KEYS, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LoginLimiter<C> {
    fn with_clock(per_minute: u32, max_keys: usize, clock: C) -> Self {
        let limits = NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n);
            let once = Quota::per_minute(NonZeroU32::MIN);
            LoginLimits {
                by_address: BoundedKeyed::new(quota, max_keys, clock.clone()),
                by_account: BoundedKeyed::new(quota, max_keys, clock.clone()),
                audited_address: BoundedKeyed::new(once, max_keys, clock.clone()),
                audited_account: BoundedKeyed::new(once, max_keys, clock),
            }
        });
        Self { limits }
    }

    /// Takes one attempt from `source` (unknown addresses share one key)
    /// on `user` of `org`. The address is checked first, so an address
    /// over its limit spends nothing of the account's.
    pub fn check(&self, source: Option<IpAddr>, org: &str, user: &str) -> Result<(), LoginThrottled> {
        self.check_address(source)?;
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        limits
            .by_account
            .check(&account_key(org, user))
            .map_err(|wait| LoginThrottled::new(LoginScope::Account, wait))
    }
}

impl<C: Clock + Clone> LoginLimiter<C> {
    /// Takes one attempt from `source` alone (for `/auth/refresh`, where
    /// the account is not known before the token is looked up).
    pub fn check_address(&self, source: Option<IpAddr>) -> Result<(), LoginThrottled> {
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        let address = source.map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), address_key);
        limits
            .by_address
            .check(&address)
            .map_err(|wait| LoginThrottled::new(LoginScope::Address, wait))
    }

    /// Whether a refused attempt should be audited: the first refusal of
    /// its limit's key (the address, or the account) in a minute is.
    pub fn audit_due(&self, refused: &LoginThrottled, source: Option<IpAddr>, org: &str, user: &str) -> bool {
        let Some(limits) = &self.limits else {
            return false;
        };
        match refused.scope {
            LoginScope::Address => {
                let address = source.map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), address_key);
                limits.audited_address.check(&address).is_ok()
            }
            LoginScope::Account => limits.audited_account.check(&account_key(org, user)).is_ok(),
        }
    }
}

impl LoginThrottled {
    /// Rounds the wait up to whole seconds for `Retry-After`, at least 1.
    fn new(scope: LoginScope, wait: Duration) -> Self {
        Self {
            scope,
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
        }
    }
}

/// The key of a source address: IPv4 as is (also when mapped into IPv6),
/// IPv6 by its /64, since one host commonly holds a whole /64 and could
/// otherwise take a fresh key per attempt.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        },
    }
}

/// The key of an account: a digest, so that its size does not depend on
/// the (attacker-chosen) names; the org's length goes first so that no two
/// (org, user) pairs share a key.
fn account_key(org: &str, user: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((org.len() as u64).to_le_bytes());
    h.update(org.as_bytes());
    h.update(user.as_bytes());
    h.finalize().into()
}

/// Refreshes allowed from an address for each login allowed.
const REFRESHES_PER_LOGIN: u32 = 3;

/// Everything that guards `/auth/login`: the attempt limits and the
/// bounded password checks.
#[derive(Debug)]
pub struct LoginGuard {
    /// Attempts per address and per account.
    pub limiter: LoginLimiter,
    /// Argon2 verifications, a few at a time.
    pub passwords: PasswordChecker,
    /// Refused refreshes per address (`/auth/refresh`): a few times the
    /// logins' rate.
    pub refreshes: LoginLimiter,
}

impl LoginGuard {
    /// `per_minute` attempts a minute per address and per account (zero:
    /// unlimited); password checks bounded by the machine's cores.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: LoginLimiter::new(per_minute),
            passwords: PasswordChecker::new(PasswordChecker::default_permits(), PasswordChecker::WAIT),
            refreshes: LoginLimiter::new(per_minute.saturating_mul(REFRESHES_PER_LOGIN)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn bursts_then_refuses_with_a_wait() {
        let limiter = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            assert_eq!(limiter.take("a"), Ok(()));
        }
        assert_eq!(limiter.take("a"), Err(1));
        // Buckets are per principal.
        assert_eq!(limiter.take("b"), Ok(()));
        let off = RateLimiter::new(0.0, 1.0);
        for _ in 0..100 {
            assert_eq!(off.take("a"), Ok(()));
        }
    }

    fn limiter(per_minute: u32, max_keys: usize) -> (LoginLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            LoginLimiter::with_clock(per_minute, max_keys, clock.clone()),
            clock,
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    #[test]
    fn an_account_is_limited_from_every_address() {
        let (l, clock) = limiter(3, 100);
        for n in 1..=3 {
            assert_eq!(l.check(ip(&format!("10.0.0.{n}")), "acme", "alice"), Ok(()));
        }
        let refused = l
            .check(ip("10.0.0.9"), "acme", "alice")
            .expect_err("over the limit");
        assert_eq!(refused.scope, LoginScope::Account);
        // One attempt comes back every 20 s (3 a minute).
        assert_eq!(refused.retry_after_secs, 20);
        // Other accounts, and the same name in another org, are apart.
        assert_eq!(l.check(ip("10.0.0.9"), "acme", "bob"), Ok(()));
        assert_eq!(l.check(ip("10.0.0.9"), "other", "alice"), Ok(()));
        clock.advance(Duration::from_secs(20));
        assert_eq!(l.check(ip("10.0.0.8"), "acme", "alice"), Ok(()));
    }

    #[test]
    fn an_address_is_limited_across_names() {
        let (l, _clock) = limiter(2, 100);
        assert_eq!(l.check(ip("192.0.2.1"), "acme", "a"), Ok(()));
        assert_eq!(l.check(ip("192.0.2.1"), "acme", "b"), Ok(()));
        let refused = l.check(ip("192.0.2.1"), "acme", "c").expect_err("over the limit");
        assert_eq!(refused.scope, LoginScope::Address);
        assert_eq!(refused.retry_after_secs, 30);
        // The refused attempt spent nothing of account `c`.
        assert_eq!(l.check(ip("192.0.2.2"), "acme", "c"), Ok(()));
        assert_eq!(l.check(ip("192.0.2.3"), "acme", "c"), Ok(()));
    }

    #[test]
    fn ipv6_hosts_are_keyed_by_their_64() {
        let (l, _clock) = limiter(1, 100);
        assert_eq!(l.check(ip("2001:db8:1:2::1"), "o", "a"), Ok(()));
        let refused = l
            .check(ip("2001:db8:1:2:ffff::7"), "o", "b")
            .expect_err("same /64");
        assert_eq!(refused.scope, LoginScope::Address);
        assert_eq!(l.check(ip("2001:db8:1:3::1"), "o", "c"), Ok(()));
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().expect("v6")),
            "192.0.2.7".parse::<IpAddr>().expect("v4")
        );
        // Attempts without a known address share one key.
        assert_eq!(l.check(None, "o", "d"), Ok(()));
        assert!(l.check(None, "o", "e").is_err());
    }

    #[test]
    fn account_keys_do_not_collide_across_the_split() {
        assert_ne!(account_key("ab", "c"), account_key("a", "bc"));
        assert_eq!(account_key("a", "bc"), account_key("a", "bc"));
    }

    #[test]
    fn zero_turns_login_limits_off() {
        let (l, _clock) = limiter(0, 1);
        for n in 0..100 {
            assert_eq!(l.check(ip("192.0.2.1"), "o", &format!("u{n}")), Ok(()));
        }
    }

    #[test]
    fn keys_stay_bounded_and_a_full_limiter_fails_closed() {
        let clock = FakeRelativeClock::default();
        let keyed: BoundedKeyed<u32, _> =
            BoundedKeyed::new(Quota::per_minute(NonZeroU32::MIN), 3, clock.clone());
        for k in 0..3 {
            assert_eq!(keyed.check(&k), Ok(()));
        }
        // Full of keys still in use: a new key is refused, not admitted
        // past the bound, and no existing key is reset.
        assert_eq!(keyed.check(&99), Err(Duration::from_secs(120)));
        assert!(keyed.check(&0).is_err());
        assert_eq!(keyed.len(), 3);
        // Once the keys are idle for a period past a full burst (governor's
        // margin), a sweep forgets them.
        clock.advance(Duration::from_secs(120));
        assert_eq!(keyed.check(&99), Ok(()));
        assert_eq!(keyed.len(), 1);
    }
}
