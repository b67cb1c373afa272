//! Custom domains: which host names a project may claim, and the DNS check
//! that proves the project controls one.
//!
//! A claim gets a token; the project's admin publishes it as a TXT record
//! at `_minicloud-challenge.<domain>` (`minicloud-verification=<token>`)
//! and asks for verification. Only then do the project's routes answer on
//! the domain. The token is unique to the claim, so another tenant cannot
//! verify a domain whose DNS it does not control, and once one project
//! holds a domain verified no other can verify it until it is released.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use std::net::SocketAddr;
use std::time::Duration;

/// The label the TXT record lives under.
pub const CHALLENGE_LABEL: &str = "_minicloud-challenge";
/// What the TXT record's text starts with; the token follows.
pub const CHALLENGE_PREFIX: &str = "minicloud-verification=";

/// Why a name cannot be claimed, for a person to read.
pub fn check_name(name: &str, base_domain: &str) -> Result<(), String> {
    let base = base_domain.trim_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!(
            "{name:?} is not a host name: give two or more dot-separated labels of lower-case letters, \
             digits and '-' (at most 63 each, 253 in all; internationalised names as punycode)"
        ));
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("{name:?} is an address, not a name"));
    }
    let under = |suffix: &str| name == suffix || name.ends_with(&format!(".{suffix}"));
    if !base.is_empty() && under(&base) {
        return Err(format!(
            "names under {base:?} are the platform's own: each project already answers on <project>.{base}"
        ));
    }
    if under("localhost") {
        return Err(format!("{name:?} names this machine, not a domain"));
    }
    Ok(())
}

/// The record a claim's token must be published at.
pub fn record_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// The text of the record.
pub fn record_value(token: &str) -> String {
    format!("{CHALLENGE_PREFIX}{token}")
}

/// Looks up challenge records, through the system's resolver or the
/// server given with `--dns-server`. Nothing is cached: a record the admin
/// just published is seen by the next check.
#[derive(Debug, Clone)]
pub struct Verifier {
    server: Option<SocketAddr>,
}

/// What a check found.
#[derive(Debug)]
pub enum Check {
    /// A TXT record holds the token.
    Proven,
    /// The records found, none holding the token (empty: no record).
    NotFound(Vec<String>),
    /// The lookup failed (timeout, no server, bad answer).
    Failed(String),
}

impl Verifier {
    /// A verifier that asks `server` (for tests and split-horizon setups),
    /// or the system's resolvers.
    pub fn new(server: Option<SocketAddr>) -> Self {
        Self { server }
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let mut builder = match self.server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let server = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| format!("no DNS configuration: {e}"))?,
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 1;
        *builder.options_mut() = opts;
        builder.build().map_err(|e| format!("no DNS resolver: {e}"))
    }

    /// Whether `_minicloud-challenge.<domain>` holds `token`.
    pub async fn check(&self, domain: &str, token: &str) -> Check {
        let resolver = match self.resolver() {
            Ok(r) => r,
            Err(e) => return Check::Failed(e),
        };
        // Fully qualified: no search domain is tried.
        let name = format!("{}.", record_name(domain));
        let want = record_value(token);
        let lookup = match resolver.txt_lookup(name.as_str()).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Check::NotFound(Vec::new()),
            Err(e) => return Check::Failed(e.to_string()),
        };
        let mut seen = Vec::new();
        for record in lookup.answers() {
            if let RData::TXT(txt) = &record.data {
                // A TXT record's strings are one text, split at 255 bytes.
                let text: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
                let text = String::from_utf8_lossy(&text).into_owned();
                if text == want {
                    return Check::Proven;
                }
                seen.push(text);
            }
        }
        seen.truncate(5);
        Check::NotFound(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn claimable_names() {
        for ok in [
            "shop.example.com",
            "a.b",
            "xn--bcher-kva.example",
            "api-1.shop.example.com",
        ] {
            assert_eq!(check_name(ok, "apps.example.net"), Ok(()), "{ok}");
        }
        for bad in [
            "example",
            "Shop.example.com",
            "shop..example.com",
            "-shop.example.com",
            "shop-.example.com",
            "shop.example.com.",
            "10.0.0.1",
            "shop_1.example.com",
            "*.example.com",
            "a.apps.example.net",
            "apps.example.net",
            "foo.localhost",
            "",
        ] {
            assert!(check_name(bad, "apps.example.net").is_err(), "{bad}");
        }
        assert!(check_name(&format!("{}.com", "a".repeat(64)), "x").is_err());
    }
}
