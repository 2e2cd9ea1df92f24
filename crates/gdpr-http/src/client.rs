//! The client's address: the connection's peer, or, when the peer is a proxy the operator
//! trusts, the address that proxy says it forwarded for (`X-Forwarded-For`, read from the
//! right, past every trusted proxy). Headers from anyone else are ignored: a client cannot
//! choose the address it is rate-limited and logged under.

use std::net::IpAddr;

use poem::Request;

/// A network (`10.0.0.0/8`, `2001:db8::/32`) or one address whose connections are trusted to
/// say whom they forward for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an IP address or a network such as 10.0.0.0/8");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { network, prefix })
    }
}

impl TrustedProxy {
    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            let keep = u32::from(prefix.min(width));
            if keep == 0 {
                0
            } else {
                bits >> (u32::from(width) - keep)
            }
        }
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), self.prefix, 128) == masked(ip.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// The proxies trusted, as the server was configured.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies(pub(crate) std::sync::Arc<Vec<TrustedProxy>>);

/// The client's address, once resolved for the request.
#[derive(Debug, Clone, Copy)]
struct ClientIp(Option<IpAddr>);

/// The client of `peer`, given the `X-Forwarded-For` header and the trusted proxies.
fn resolve(
    peer: Option<IpAddr>,
    forwarded: Option<&str>,
    trusted: &[TrustedProxy],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.iter().any(|t| t.contains(peer)) {
        return Some(peer);
    }
    let Some(forwarded) = forwarded else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in forwarded.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // Garbage in the chain: the last address known good stands.
            break;
        };
        client = ip.to_canonical();
        if !trusted.iter().any(|t| t.contains(client)) {
            break;
        }
    }
    Some(client)
}

/// The client's address for this request (resolved by [`resolve_client`]).
pub(crate) fn client_ip(req: &Request) -> Option<IpAddr> {
    req.data::<ClientIp>().map_or_else(
        || req.remote_addr().as_socket_addr().map(|a| a.ip()),
        |c| c.0,
    )
}

/// Resolves the client's address once, before anything logs or limits by it.
pub(crate) fn resolve_client(req: &mut Request) {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let trusted = req.data::<TrustedProxies>().map_or(&[][..], |t| &t.0[..]);
    let client = resolve(peer, req.header("x-forwarded-for"), trusted);
    req.set_data(ClientIp(client));
}

#[cfg(test)]
mod tests {
    use super::{TrustedProxy, resolve};

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<TrustedProxy> = ["10.0.0.0/8", "2001:db8::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Straight from a client: its header is ignored.
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), Some("198.51.100.1"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Through the balancer: the address it forwarded for.
        assert_eq!(
            resolve(Some(ip("10.1.2.3")), Some("198.51.100.1"), &trusted),
            Some(ip("198.51.100.1"))
        );
        // A client's own forged entries sit left of what the trusted proxies added.
        assert_eq!(
            resolve(
                Some(ip("10.1.2.3")),
                Some("1.2.3.4, 198.51.100.1, 10.9.9.9"),
                &trusted
            ),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            resolve(Some(ip("2001:db8::1")), Some("garbage"), &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            resolve(Some(ip("10.1.2.3")), None, &trusted),
            Some(ip("10.1.2.3"))
        );
        assert_eq!(
            resolve(Some(ip("::ffff:10.1.2.3")), Some("198.51.100.1"), &trusted),
            Some(ip("198.51.100.1"))
        );
        for bad in ["", "10.0.0.0/33", "nope", "::/129"] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad}");
        }
        assert!(
            "0.0.0.0/0"
                .parse::<TrustedProxy>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
    }
}
