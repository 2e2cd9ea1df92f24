//! IP addresses and their pseudonymisation (truncation to a network prefix).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Why a string or a policy is not acceptable. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpError {
    /// Not an IPv4 or IPv6 address.
    #[error("not an IP address: expected dotted IPv4 (192.0.2.1) or IPv6 (2001:db8::1)")]
    Invalid,
    /// A prefix length longer than the address.
    #[error("{family} prefix length {prefix} is out of range 0..={max}")]
    PrefixOutOfRange {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The prefix given.
        prefix: u8,
        /// The longest prefix allowed (32 or 128).
        max: u8,
    },
}

/// An IP address seen from a data subject. Personal data: never printed raw.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpAddress(IpAddr);

impl IpAddress {
    /// Parses an address; IPv4-mapped IPv6 (`::ffff:192.0.2.1`) becomes the IPv4 address.
    ///
    /// # Errors
    /// [`IpError::Invalid`] if the text is not an address.
    pub fn parse(input: &str) -> Result<Self, IpError> {
        input
            .trim()
            .parse::<IpAddr>()
            .map(Self::from_ip)
            .map_err(|_| IpError::Invalid)
    }

    /// Wraps an address already parsed (from a socket, say).
    #[must_use]
    pub fn from_ip(ip: IpAddr) -> Self {
        Self(ip.to_canonical())
    }

    /// The raw address. Every call site is a place personal data flows: keep them few.
    #[must_use]
    pub const fn expose_pii(&self) -> IpAddr {
        self.0
    }

    /// The address truncated to the policy's prefix: what logs and consent proofs keep.
    #[must_use]
    pub fn pseudonymise(&self, policy: PseudonymisationPolicy) -> PseudonymousIp {
        match self.0 {
            IpAddr::V4(v4) => {
                let prefix = policy.ipv4_prefix;
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                PseudonymousIp {
                    network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = policy.ipv6_prefix;
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                PseudonymousIp {
                    network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                }
            }
        }
    }
}

impl fmt::Debug for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IpAddress(<redacted>)")
    }
}

impl fmt::Display for IpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted ip>")
    }
}

/// How many leading bits of an address survive pseudonymisation.
///
/// The defaults (/24 for IPv4, /48 for IPv6) keep a network a security analyst can correlate
/// while dropping the host part that singles out a subscriber line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct PseudonymisationPolicy {
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

#[derive(Deserialize)]
struct RawPolicy {
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl TryFrom<RawPolicy> for PseudonymisationPolicy {
    type Error = IpError;

    fn try_from(raw: RawPolicy) -> Result<Self, Self::Error> {
        Self::new(raw.ipv4_prefix, raw.ipv6_prefix)
    }
}

impl PseudonymisationPolicy {
    /// A policy keeping `ipv4_prefix` bits of IPv4 and `ipv6_prefix` bits of IPv6 addresses.
    ///
    /// # Errors
    /// [`IpError::PrefixOutOfRange`] when a prefix is longer than its address.
    pub fn new(ipv4_prefix: u8, ipv6_prefix: u8) -> Result<Self, IpError> {
        if ipv4_prefix > 32 {
            return Err(IpError::PrefixOutOfRange {
                family: "IPv4",
                prefix: ipv4_prefix,
                max: 32,
            });
        }
        if ipv6_prefix > 128 {
            return Err(IpError::PrefixOutOfRange {
                family: "IPv6",
                prefix: ipv6_prefix,
                max: 128,
            });
        }
        Ok(Self {
            ipv4_prefix,
            ipv6_prefix,
        })
    }

    /// Bits of an IPv4 address kept.
    #[must_use]
    pub const fn ipv4_prefix(&self) -> u8 {
        self.ipv4_prefix
    }

    /// Bits of an IPv6 address kept.
    #[must_use]
    pub const fn ipv6_prefix(&self) -> u8 {
        self.ipv6_prefix
    }
}

impl Default for PseudonymisationPolicy {
    fn default() -> Self {
        Self {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        }
    }
}

/// A network prefix such as `203.0.113.0/24`: pseudonymous, safe to log and to keep as proof.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PseudonymousIp {
    network: IpAddr,
    prefix: u8,
}

impl PseudonymousIp {
    /// The network address (host bits zero).
    #[must_use]
    pub const fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    #[must_use]
    pub const fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for PseudonymousIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for PseudonymousIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PseudonymousIp({self})")
    }
}

impl From<PseudonymousIp> for String {
    fn from(ip: PseudonymousIp) -> Self {
        ip.to_string()
    }
}

impl TryFrom<String> for PseudonymousIp {
    type Error = IpError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let (addr, prefix) = s.split_once('/').ok_or(IpError::Invalid)?;
        let network: IpAddr = addr.parse().map_err(|_| IpError::Invalid)?;
        let prefix: u8 = prefix.parse().map_err(|_| IpError::Invalid)?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(IpError::Invalid);
        }
        // Re-truncate so that a stored value always has its host bits zero.
        let policy = if network.is_ipv4() {
            PseudonymisationPolicy::new(prefix, 48)?
        } else {
            PseudonymisationPolicy::new(24, prefix)?
        };
        Ok(IpAddress::from_ip(network).pseudonymise(policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonymisation_table() {
        let default = PseudonymisationPolicy::default();
        let cases = [
            ("203.0.113.77", default, "203.0.113.0/24"),
            ("203.0.113.0", default, "203.0.113.0/24"),
            ("255.255.255.255", default, "255.255.255.0/24"),
            (" 10.1.2.3 ", default, "10.1.2.0/24"),
            ("::ffff:198.51.100.9", default, "198.51.100.0/24"),
            ("2001:db8:abcd:12:1:2:3:4", default, "2001:db8:abcd::/48"),
            ("2001:db8::1", default, "2001:db8::/48"),
            ("::1", default, "::/48"),
            (
                "203.0.113.77",
                PseudonymisationPolicy::new(16, 32).unwrap(),
                "203.0.0.0/16",
            ),
            (
                "203.0.113.77",
                PseudonymisationPolicy::new(0, 0).unwrap(),
                "0.0.0.0/0",
            ),
            (
                "203.0.113.77",
                PseudonymisationPolicy::new(32, 128).unwrap(),
                "203.0.113.77/32",
            ),
            (
                "2001:db8:abcd:12::1",
                PseudonymisationPolicy::new(24, 64).unwrap(),
                "2001:db8:abcd:12::/64",
            ),
        ];
        for (input, policy, expected) in cases {
            let ip = IpAddress::parse(input).unwrap();
            assert_eq!(
                ip.pseudonymise(policy).to_string(),
                expected,
                "input {input}"
            );
        }
    }

    #[test]
    fn invalid_inputs_and_policies_are_refused() {
        for input in [
            "",
            "1.2.3",
            "256.1.1.1",
            "1.2.3.4.5",
            "gggg::1",
            "example.com",
        ] {
            assert_eq!(IpAddress::parse(input), Err(IpError::Invalid), "{input}");
        }
        assert!(matches!(
            PseudonymisationPolicy::new(33, 48),
            Err(IpError::PrefixOutOfRange { max: 32, .. })
        ));
        assert!(matches!(
            PseudonymisationPolicy::new(24, 129),
            Err(IpError::PrefixOutOfRange { max: 128, .. })
        ));
    }

    #[test]
    fn the_raw_address_is_never_shown() {
        let ip = IpAddress::parse("198.51.100.23").unwrap();
        assert!(!format!("{ip:?}{ip}").contains("198.51"));
    }

    #[test]
    fn pseudonymous_ips_round_trip_and_stay_truncated() {
        let p: PseudonymousIp = String::from("198.51.100.23/24").try_into().unwrap();
        assert_eq!(p.to_string(), "198.51.100.0/24");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"198.51.100.0/24\"");
        assert!(PseudonymousIp::try_from(String::from("198.51.100.0/33")).is_err());
    }
}
