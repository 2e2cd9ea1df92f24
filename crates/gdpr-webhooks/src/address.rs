//! Where an endpoint may point: `https` (or `http` where the operator allows it), no user
//! name or password in the URL, and — checked again on every address the name resolves to,
//! when the request is made — no loopback, private, link-local or otherwise internal address
//! unless the operator allows private addresses (tests do, for 127.0.0.1). A tenant cannot make
//! the vault call its own network (server-side request forgery).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What the operator allows endpoints to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    /// Loopback, private, link-local and unique-local addresses allowed (tests, or an
    /// operator whose receivers run inside the network).
    pub allow_private: bool,
    /// Plain `http` allowed (never over the internet: only with `allow_private`, for local
    /// receivers).
    pub allow_http: bool,
}

/// Why a URL cannot be an endpoint. Messages name the rule, not the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not an absolute URL.
    #[error("not an absolute URL")]
    Malformed,
    /// Neither `https` nor allowed `http`.
    #[error("the scheme must be https")]
    Scheme,
    /// Credentials in the URL would be stored and shown.
    #[error("a URL with a user name or password is refused: authenticate with the signature")]
    Credentials,
    /// An address the policy forbids.
    #[error(
        "the address is loopback, private, link-local or otherwise internal, which this deployment does not allow"
    )]
    Internal,
    /// Longer than 2,000 characters.
    #[error("at most 2000 characters")]
    TooLong,
}

impl AddressPolicy {
    /// Whether an address may be reached.
    #[must_use]
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// Checks an endpoint's URL as given (the addresses its name resolves to are checked when
/// it is called).
///
/// # Errors
/// [`UrlError`].
pub fn check_url(text: &str, policy: AddressPolicy) -> Result<Url, UrlError> {
    if text.len() > 2000 {
        return Err(UrlError::TooLong);
    }
    let url = Url::parse(text.trim()).map_err(|_| UrlError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => return Err(UrlError::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    match url.host() {
        None => return Err(UrlError::Malformed),
        Some(Host::Ipv4(ip)) if !policy.permits(IpAddr::V4(ip)) => return Err(UrlError::Internal),
        Some(Host::Ipv6(ip)) if !policy.permits(IpAddr::V6(ip)) => return Err(UrlError::Internal),
        Some(Host::Domain(name)) if !policy.allow_private && internal_name(name) => {
            return Err(UrlError::Internal);
        }
        Some(_) => {}
    }
    Ok(url)
}

/// Names that only ever mean this host or its network.
fn internal_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
}

/// Whether an address is on the public internet.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        // 100.64/10, carrier-grade NAT; 192.0.0/24, protocol assignments; 198.18/15,
        // benchmarking; 240/4, reserved; 0/8, "this network".
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
        || a == 0)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation,
        // 64:ff9b::/96 NAT64 (it can reach IPv4 private space).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::{AddressPolicy, UrlError, check_url};

    const STRICT: AddressPolicy = AddressPolicy {
        allow_private: false,
        allow_http: false,
    };

    #[test]
    fn internal_addresses_and_plain_http_are_refused_unless_the_operator_allows_them() {
        assert!(check_url("https://hooks.example.com/gdpr", STRICT).is_ok());
        assert!(check_url("https://93.184.216.34/x", STRICT).is_ok());
        for internal in [
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://172.16.0.1/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fe80::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[64:ff9b::a00:1]/x",
            "https://localhost/x",
            "https://api.localhost/x",
            "https://metadata.google.internal/x",
            "https://printer.local/x",
        ] {
            assert_eq!(
                check_url(internal, STRICT),
                Err(UrlError::Internal),
                "{internal}"
            );
        }
        assert_eq!(
            check_url("http://hooks.example.com", STRICT),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("ftp://hooks.example.com", STRICT),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@hooks.example.com", STRICT),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            check_url("hooks.example.com/x", STRICT),
            Err(UrlError::Malformed)
        );
        let local = AddressPolicy {
            allow_private: true,
            allow_http: true,
        };
        assert!(check_url("http://127.0.0.1:8081/hook", local).is_ok());
        assert!(local.permits("10.0.0.1".parse().unwrap()));
        assert!(!STRICT.permits("10.0.0.1".parse().unwrap()));
        assert!(STRICT.permits("2606:4700::1111".parse().unwrap()));
    }
}
