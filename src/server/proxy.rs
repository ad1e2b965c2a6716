//! Who the client is when a reverse proxy stands between it and a server.
//!
//! A proxy hides the client's address and says what it was in `X-Forwarded-For` — a header any
//! client can send too. It is believed only when the connection comes from one of the
//! configured trusted proxies (`--trusted-proxy`), never otherwise. The networks are
//! `ipnet`'s; this module adds the bare-address form and the header walk.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Request};
use ipnet::IpNet;

/// An IP network, `192.0.2.0/24` or `2001:db8::/32`; a bare address is a network of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(IpNet);

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let text = text.trim();
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(Network(IpNet::from(address)));
        }
        match text.split_once('/') {
            Some((address, _)) if address.parse::<IpAddr>().is_ok() => {
                let max = if address.contains(':') { 128 } else { 32 };
                text.parse::<IpNet>()
                    .map(Network)
                    .map_err(|_| format!("`{text}`: the prefix length must be 0 to {max}"))
            }
            _ => Err(format!(
                "`{text}` is not an IP address or network such as 10.0.0.0/8"
            )),
        }
    }
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`, as a dual-stack listener sees it) is
/// the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The reverse proxies whose `X-Forwarded-*` headers are believed. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// A comma-separated list of addresses and networks; blanks are ignored.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Network::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn from_networks(networks: Vec<Network>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// Whether this request came through a trusted proxy (so its forwarded headers count).
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|p| self.contains(p))
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the last
    /// address in `X-Forwarded-For` that is not one of ours (each proxy appends the address it
    /// got the request from, so what is left of a trusted one could have been made up).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.contains(client) {
            return Some(client);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = canonical(ip);
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]:443`,
/// `192.0.2.1:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The connection's peer address, when the server was started with it (it always is; a
/// router served without `ConnectInfo` has none).
pub fn peer<B>(request: &Request<B>) -> Option<IpAddr> {
    peer_of(request.extensions())
}

fn peer_of(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

/// Extracts the connection's peer address (never fails: `None` without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(peer_of(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded_for(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn networks_parse_and_match() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,, 2001:db8::/32").unwrap();
        assert!(proxies.contains(ip("10.200.3.4")));
        assert!(proxies.contains(ip("::ffff:10.1.1.1")));
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(!proxies.contains(ip("192.0.2.8")));
        assert!(proxies.contains(ip("2001:db8:ffff::1")));
        assert!(!proxies.contains(ip("2001:db9::1")));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        for bad in ["proxy.internal", "10.0.0.0/33", "10.0.0.0/x", "::/129"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let headers = forwarded_for(&["198.51.100.1, 203.0.113.5"]);
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(Some(ip("10.0.0.2")), &headers),
            Some(ip("10.0.0.2"))
        );
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // From the proxy: the address it saw (the rightmost), not what the client claimed.
        assert_eq!(
            proxies.client(Some(ip("10.0.0.2")), &headers),
            Some(ip("203.0.113.5"))
        );
        // Not from the proxy: the header is the client's own say-so.
        assert_eq!(
            proxies.client(Some(ip("203.0.113.9")), &headers),
            Some(ip("203.0.113.9"))
        );
        // Two proxies of ours in a row, spread over two header lines.
        let chained = forwarded_for(&["198.51.100.1", "203.0.113.5, 10.1.1.1:8443"]);
        assert_eq!(
            proxies.client(Some(ip("10.0.0.2")), &chained),
            Some(ip("203.0.113.5"))
        );
        // A proxy that sent nothing usable: the proxy itself is the client.
        let junk = forwarded_for(&["unknown"]);
        assert_eq!(
            proxies.client(Some(ip("10.0.0.2")), &junk),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(proxies.client(None, &headers), None);
    }
}
