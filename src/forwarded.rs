//! The client's address behind load balancers: which address the policy's
//! `source_cidr` conditions see.
//!
//! Pure: reads the request's headers and the peer address it is given.
//! `X-Forwarded-For` is a list every proxy appends its peer to, so only
//! the entries added by proxies s3gate trusts are facts; anything to their
//! left was written by the client. The client is therefore the rightmost
//! entry that is not a trusted proxy, and only when the peer itself is
//! trusted; otherwise the peer address, whatever the header says.
//!
//! Spec: <https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-For#selecting_an_ip_address>

use std::net::IpAddr;

use http::{HeaderMap, HeaderName};

use crate::policy::Cidr;

/// By constant: behind a trusted proxy (an ECS service's load balancer)
/// every request reads it, and a lookup by `&str` parses the name first.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Why a request whose client address is unknown is refused: an unknown
/// address would keep a `not_source_cidr` deny from denying.
pub const UNKNOWN_CLIENT: &str = "the client's address is unknown: a trusted proxy forwarded an \
     X-Forwarded-For entry that is not an address";

/// The client's address for a request from `peer`: see the module doc.
/// `None` when a trusted proxy passed on an entry that is not an address:
/// the client is unknown, and the gateway refuses the request
/// ([`UNKNOWN_CLIENT`]).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Every X-Forwarded-For line, in order, as one list.
    let entries: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|v| v.to_str().map_or(vec![""], |s| s.split(',').collect()))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        client = parse_entry(entry)?;
        if !is_trusted(client) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse().ok())
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "a test panics on a broken fixture")]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect(v));
        }
        h
    }

    fn lb() -> Vec<Cidr> {
        vec![Cidr::parse("10.0.0.0/8").expect("cidr")]
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let h = headers(&["10.1.2.3"]);
        assert_eq!(
            client_address(ip("198.51.100.7"), &h, &lb()),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &[]),
            Some(ip("10.0.0.5"))
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        // The client claims 10.9.9.9 (inside the office), the balancer
        // appends what it saw.
        let h = headers(&["10.9.9.9, 203.0.113.4"]);
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &lb()),
            Some(ip("203.0.113.4"))
        );
        // Two trusted hops, over two header lines.
        let h = headers(&["203.0.113.4", "10.0.0.9"]);
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &lb()),
            Some(ip("203.0.113.4"))
        );
        // Ports and IPv6 brackets.
        let h = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &lb()),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn all_trusted_is_the_leftmost_and_no_header_is_the_peer() {
        let h = headers(&["10.7.0.1, 10.0.0.9"]);
        assert_eq!(
            client_address(ip("10.0.0.5"), &h, &lb()),
            Some(ip("10.7.0.1"))
        );
        assert_eq!(
            client_address(ip("10.0.0.5"), &HeaderMap::new(), &lb()),
            Some(ip("10.0.0.5"))
        );
    }

    #[test]
    fn garbage_where_the_client_should_be_is_unknown() {
        let h = headers(&["10.9.9.9, not-an-address"]);
        assert_eq!(client_address(ip("10.0.0.5"), &h, &lb()), None);
    }
}
