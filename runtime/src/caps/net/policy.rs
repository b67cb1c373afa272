//! Which addresses functions may reach: every address is classified
//! (loopback, link-local, private, ...), and only public ones pass unless
//! the operator allowed a range (`minicloud serve --outbound-allow-cidr`).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address is, as far as reaching it from a function goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally routed: always allowed.
    Public,
    /// `127.0.0.0/8`, `::1`: the platform's own host.
    Loopback,
    /// `169.254.0.0/16`, `fe80::/10`: among others, cloud metadata services.
    LinkLocal,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and IPv6 site-local.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    Shared,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `0.0.0.0/8` and `::`: on Linux, connecting to them reaches this host.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// Documentation ranges (`192.0.2.0/24`, `2001:db8::/32`, ...).
    Documentation,
    /// Benchmarking ranges (`198.18.0.0/15`, `2001:2::/48`).
    Benchmarking,
    /// Anything else not globally routed: IETF protocol assignments,
    /// `240.0.0.0/4`, IPv6 outside `2000::/3`.
    Reserved,
}

impl AddressClass {
    /// The class in a sentence: "a loopback address".
    pub fn describe(self) -> &'static str {
        match self {
            Self::Public => "a public address",
            Self::Loopback => "a loopback address",
            Self::LinkLocal => "a link-local address",
            Self::Private => "a private address",
            Self::Shared => "a shared (carrier-grade NAT) address",
            Self::UniqueLocal => "a unique local address",
            Self::Multicast => "a multicast address",
            Self::Unspecified => "an unspecified address",
            Self::Broadcast => "the broadcast address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Reserved => "a reserved address",
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The class of `ip`. An IPv6 address that stands for an IPv4 one
/// (mapped, compatible, NAT64, 6to4) is judged by that IPv4 address, since
/// that is where a connection to it ends up.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    if ip.is_broadcast() {
        return Broadcast;
    }
    match ip.octets() {
        [0, ..] => Unspecified,
        [10, ..] => Private,
        [100, 64..=127, ..] => Shared,
        [127, ..] => Loopback,
        [169, 254, ..] => LinkLocal,
        [172, 16..=31, ..] => Private,
        [192, 0, 0, _] | [192, 88, 99, _] => Reserved,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Documentation,
        [192, 168, ..] => Private,
        [198, 18..=19, ..] => Benchmarking,
        [224..=239, ..] => Multicast,
        [240..=255, ..] => Reserved,
        _ => Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    let s = ip.segments();
    if ip.is_unspecified() {
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if s[0] & 0xff00 == 0xff00 {
        Multicast
    } else if s[0] & 0xffc0 == 0xfe80 {
        LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 {
        // Site-local, deprecated: IPv6's first private range.
        Private
    } else if s[0] & 0xfe00 == 0xfc00 {
        UniqueLocal
    } else if (s[0], s[1]) == (0x2001, 0x0db8) || s[0] & 0xfff0 == 0x3ff0 {
        Documentation
    } else if (s[0], s[1], s[2]) == (0x2001, 0x0002, 0) {
        Benchmarking
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        // 2001::/23, IETF protocol assignments (Teredo among them).
        Reserved
    } else if s[0] & 0xe000 == 0x2000 {
        // 2000::/3 is the only range handed out for global unicast; an
        // allow list is safer than listing what else is special.
        Public
    } else {
        Reserved
    }
}

/// The IPv4 address an IPv6 address stands for, when connecting to it
/// reaches (or is translated to) that IPv4 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [.., a, b, c, d] = ip.octets();
    let low = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        // Mapped (::ffff:a.b.c.d) and translated (::ffff:0:a.b.c.d).
        [0, 0, 0, 0, 0, 0xffff, ..] | [0, 0, 0, 0, 0xffff, 0, ..] => Some(low),
        // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        // IPv4-compatible (::a.b.c.d), deprecated but still routed by some stacks.
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // NAT64 well-known prefix (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4 (2002:a.b.c.d::/48) is relayed to a.b.c.d.
        [0x2002, hi, lo, ..] => {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            Some(Ipv4Addr::new(a, b, c, d))
        }
        _ => None,
    }
}

/// A range the operator named that is not an address range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{range:?} is not an address range: write an address and a prefix length, \
     such as 10.1.0.0/16 or fd00::/8, or a single address"
)]
pub struct BadRange {
    /// The text as given.
    pub range: String,
}

/// Which addresses outbound connections may reach: public ones, plus the
/// ranges the operator allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

impl NetworkPolicy {
    /// Public addresses only (the default).
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and `ranges` (CIDR such as `10.1.0.0/16`, or one
    /// address). Blank entries are skipped, so that an empty environment
    /// variable allows nothing rather than failing.
    pub fn allowing<S: AsRef<str>>(ranges: &[S]) -> Result<Self, BadRange> {
        let mut allowed = Vec::new();
        for text in ranges {
            let text = text.as_ref().trim();
            if text.is_empty() {
                continue;
            }
            let net = match text.parse::<IpNet>() {
                // Host bits set (10.0.0.1/8) mean the network they are in.
                Ok(net) => net.trunc(),
                Err(_) => text.parse::<IpAddr>().map(IpNet::from).map_err(|_| BadRange {
                    range: text.to_owned(),
                })?,
            };
            allowed.push(net);
        }
        Ok(Self { allowed })
    }

    /// The ranges allowed beyond public addresses.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Whether a connection to `ip` may be made; the address's class when
    /// not.
    pub fn check(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let class = classify(ip);
        if class == AddressClass::Public {
            return Ok(());
        }
        // A mapped form reaches the same host as its IPv4 address: allowing
        // 127.0.0.0/8 allows ::ffff:127.0.0.1 too.
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let allowed = self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || v4.is_some_and(|v4| net.contains(&v4)));
        if allowed { Ok(()) } else { Err(class) }
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]
mod tests {
    use super::AddressClass::*;
    use super::*;

    fn class(text: &str) -> AddressClass {
        classify(text.parse().unwrap())
    }

    #[test]
    fn ipv4_addresses_are_classified() {
        for (addr, expected) in [
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("93.184.216.34", Public),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.63.255.255", Public),
            ("100.64.0.1", Shared),
            ("100.127.255.255", Shared),
            ("100.128.0.0", Public),
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("169.254.169.254", LinkLocal),
            ("169.255.0.1", Public),
            ("172.15.255.255", Public),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.0", Public),
            ("192.0.0.8", Reserved),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.1.1", Private),
            ("192.169.0.1", Public),
            ("198.17.255.255", Public),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("223.255.255.255", Public),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ] {
            assert_eq!(class(addr), expected, "{addr}");
        }
    }

    #[test]
    fn ipv6_addresses_are_classified() {
        for (addr, expected) in [
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001::200e", Public),
            ("::", Unspecified),
            ("::1", Loopback),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Private),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001::1", Reserved),
            ("2001:1ff::1", Reserved),
            ("2001:200::1", Public),
            ("100::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("4000::1", Reserved),
            ("1fff::1", Reserved),
        ] {
            assert_eq!(class(addr), expected, "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_are_judged_by_their_ipv4_address() {
        for (addr, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:8.8.8.8", Public),
            ("::ffff:0:127.0.0.1", Loopback),
            ("::127.0.0.1", Loopback),
            ("::10.1.2.3", Private),
            ("::2", Unspecified),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::169.254.169.254", LinkLocal),
            ("64:ff9b::8.8.8.8", Public),
            ("2002:7f00:1::1", Loopback),
            ("2002:a9fe:a9fe::", LinkLocal),
            ("2002:808:808::1", Public),
        ] {
            assert_eq!(class(addr), expected, "{addr}");
        }
    }

    #[test]
    fn only_public_addresses_pass_by_default() {
        let policy = NetworkPolicy::public_only();
        assert_eq!(policy.check("8.8.8.8".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("2606:4700::1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("127.0.0.1".parse().unwrap()), Err(Loopback));
        assert_eq!(policy.check("::ffff:127.0.0.1".parse().unwrap()), Err(Loopback));
        assert_eq!(policy.check("169.254.169.254".parse().unwrap()), Err(LinkLocal));
    }

    #[test]
    fn allowed_ranges_pass() {
        let policy = NetworkPolicy::allowing(&["127.0.0.0/8", " fd00::/8 ", "", "10.1.2.3"]).unwrap();
        let ok = |a: &str| policy.check(a.parse().unwrap()).is_ok();
        assert!(ok("127.0.0.1"));
        assert!(ok("127.9.9.9"));
        // The mapped form reaches the same host.
        assert!(ok("::ffff:127.0.0.1"));
        assert!(ok("fd12::1"));
        assert!(ok("10.1.2.3"));
        assert!(!ok("10.1.2.4"));
        assert!(!ok("::1"));
        assert!(!ok("fc00::1"));
        assert!(!ok("169.254.169.254"));
        assert_eq!(policy.allowed().len(), 3);
    }

    #[test]
    fn host_bits_in_a_range_mean_its_network() {
        let policy = NetworkPolicy::allowing(&["10.9.8.7/8"]).unwrap();
        assert!(policy.check("10.0.0.1".parse().unwrap()).is_ok());
        assert_eq!(policy.allowed()[0].to_string(), "10.0.0.0/8");
    }

    #[test]
    fn bad_ranges_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "localhost",
            "10.0.0.0/",
            "/8",
            "10.0.0.0/8/8",
        ] {
            let err = NetworkPolicy::allowing(&[bad]).unwrap_err();
            assert_eq!(err.range, bad);
            assert!(err.to_string().contains("10.1.0.0/16"), "{err}");
        }
        assert_eq!(
            NetworkPolicy::allowing::<&str>(&[]).unwrap(),
            NetworkPolicy::public_only()
        );
    }
}
