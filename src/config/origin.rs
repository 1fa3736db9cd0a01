//! Which host a request was sent to, held against the portal's
//! (`login.public_url`): the portal and S3 content never share an origin.
//!
//! A browser's origin is scheme, host and port. An object a caller uploads
//! as HTML, served from the portal's origin, could script the page that
//! hands out credentials; served from another host it is another origin,
//! and the browser's same-origin policy keeps it away from the portal and
//! its cookies. So the gateway serves the portal only on `public_url`'s
//! host and port, and S3 everywhere else (see `gateway::origin`); the
//! config checks that `login.s3_url` names another host. Pure.

/// A URL's `host:port`, lower case, without a trailing dot on the host,
/// the scheme's default port filled in. `None` when it has no host.
pub fn url_authority(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let default = default_port(uri.scheme_str());
    normal(uri.authority()?.as_str(), default)
}

/// A request's `Host` (or HTTP/2 `:authority`) in the form of
/// [`url_authority`]; a missing port is `default_port`, the port of the
/// scheme browsers use to reach the portal (behind a TLS-terminating load
/// balancer the gateway itself sees plain HTTP with the public `Host`).
pub fn host_authority(host: &str, default_port: u16) -> Option<String> {
    normal(host, default_port)
}

/// Whether two URLs name the same host and port.
pub fn same_authority(a: &str, b: &str) -> bool {
    matches!((url_authority(a), url_authority(b)), (Some(x), Some(y)) if x == y)
}

/// The default port of `scheme` (443 for https, else 80).
pub fn default_port(scheme: Option<&str>) -> u16 {
    if scheme == Some("https") { 443 } else { 80 }
}

fn normal(authority: &str, default_port: u16) -> Option<String> {
    let (host, port) = split_host(authority, default_port)?;
    Some(format!("{}:{port}", host.to_ascii_lowercase()))
}

/// `authority` (a `Host` value) as [`host_authority`] reads it, without
/// copying: the host as sent (IPv6 in brackets, no trailing dot; compare it
/// case-insensitively) and the port, `default_port` when none is given.
pub fn split_host(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    // Userinfo never names a host a browser keys an origin on.
    if authority.is_empty() || authority.contains(['@', '/', ' ']) {
        return None;
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        (&authority[..v6.len() + 2], port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default_port),
        };
        (host.strip_suffix('.').unwrap_or(host), port)
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_by_host_and_port_with_default_ports_filled_in() {
        assert_eq!(
            url_authority("https://Login.Example.com/").as_deref(),
            Some("login.example.com:443")
        );
        assert_eq!(
            url_authority("http://localhost:7070").as_deref(),
            Some("localhost:7070")
        );
        assert!(same_authority(
            "https://login.example.com",
            "https://LOGIN.example.com:443/"
        ));
        // Another port or another name is another origin.
        assert!(!same_authority(
            "http://127.0.0.1:7070",
            "http://127.0.0.1:7071"
        ));
        assert!(!same_authority(
            "http://127.0.0.1:7070",
            "http://localhost:7070"
        ));
        assert!(!same_authority("not a url", "not a url"));
    }

    #[test]
    fn request_hosts_take_the_portal_schemes_default_port() {
        assert_eq!(
            host_authority("login.example.com.", 443).as_deref(),
            Some("login.example.com:443")
        );
        assert_eq!(
            host_authority("LOCALHOST:7070", 80).as_deref(),
            Some("localhost:7070")
        );
        assert_eq!(
            host_authority("[::1]:7070", 80).as_deref(),
            Some("[::1]:7070")
        );
        assert_eq!(host_authority("[::1]", 443).as_deref(), Some("[::1]:443"));
        for bad in ["", "user@host", "host:port", "a/b", ":80", "[::1", "[::1]x"] {
            assert_eq!(host_authority(bad, 80), None, "{bad}");
        }
    }
}
