//! Origin isolation at the router: the sign-in portal is served only on
//! `login.public_url`'s host and port, S3 everywhere else (see
//! [`crate::config::origin`] for why, and `docs/login.md`).
//!
//! "Portal" is every `/_s3gate/` path except the operations endpoints
//! (`healthz`, `readyz`, `metrics`, `aws-identity`), which carry no
//! cookie, no credentials and no HTML, and answer on every host so load
//! balancers and the CLI reach them by any name. The STS API (`POST /`
//! with `Action=`) answers on every host too: `s3gate grant` and the SDKs
//! reach it through whichever URL they were given, and its answers are XML
//! carrying no cookie.
//!
//! - A portal path on another host is `404 NoSuchBucket` in S3's XML: on
//!   an S3 host `/_s3gate/…` is just a path whose bucket cannot exist,
//!   which is what S3 would say of it, and the answer is data (sandboxed),
//!   never a page.
//! - An S3 request on the portal's host is `400 InvalidRequest` naming the
//!   S3 endpoint (`login.s3_url`), audited like any refusal; unless
//!   `login.same_origin_as_s3` puts both on one host.
//!
//! Depends on `login` (the portal's address) and the response shapes in
//! [`super::finish`].

use http::Request;

use super::Gateway;
use super::body::GatewayBody;
use super::ctx::RequestCtx;
use super::finish;
use crate::config::origin::{default_port, split_host, url_authority};
use crate::s3::{S3Error, S3ErrorCode};

type Response = http::Response<GatewayBody>;

/// The portal's host and port, from `login.public_url` (parsed once, at
/// start, not per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalHost {
    /// Lower case, as [`url_authority`] writes it.
    host: String,
    port: u16,
    /// The port a `Host` without one means: the public URL's scheme's.
    default_port: u16,
}

impl PortalHost {
    /// `None` when the URL names no host.
    pub fn of(public_url: &str) -> Option<PortalHost> {
        let authority = url_authority(public_url)?;
        let (host, port) = authority.rsplit_once(':')?;
        Some(PortalHost {
            host: host.to_owned(),
            port: port.parse().ok()?,
            default_port: default_port(public_url.split_once("://").map(|(s, _)| s)),
        })
    }

    /// Whether a request's `Host` names this host and port, read as
    /// [`crate::config::origin::host_authority`] reads it, without
    /// allocating (it is asked on every S3 request).
    pub fn is(&self, host: &str) -> bool {
        split_host(host, self.default_port)
            .is_some_and(|(h, p)| p == self.port && h.eq_ignore_ascii_case(&self.host))
    }
}

/// Whether `req` was sent to the portal's host and port. False without
/// `[login]`, and for a request that names no host.
pub fn on_portal_host<B>(gateway: &Gateway, req: &Request<B>) -> bool {
    let Some(portal) = &gateway.portal_host else {
        return false;
    };
    let host = match req.headers().get(http::header::HOST) {
        Some(v) => v.to_str().ok(),
        None => req.uri().authority().map(http::uri::Authority::as_str),
    };
    host.is_some_and(|h| portal.is(h))
}

/// Whether a portal path may be served for `req`: on the portal's host,
/// or anywhere when sign-in is not configured (the portal then answers
/// its own "not configured" 404).
pub fn portal_served<B>(gateway: &Gateway, req: &Request<B>) -> bool {
    gateway.login.is_none() || on_portal_host(gateway, req)
}

/// A portal path asked of an S3 host: S3's 404 for a bucket that does not
/// exist, as data. Not audited, like every unknown `/_s3gate/` path.
pub fn portal_not_here(path: &str) -> Response {
    let request_id = super::new_request_id();
    let err = S3Error::new(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
    .with_resource(truncate(path));
    let mut resp = finish::xml_response(err.status(), err.to_xml(&request_id), &request_id, None);
    finish::sandbox(resp.headers_mut());
    resp
}

/// Whether S3 requests are refused on this request's host: the portal's
/// host, unless `login.same_origin_as_s3`.
pub fn s3_refused_here<B>(gateway: &Gateway, req: &Request<B>) -> bool {
    gateway
        .login
        .as_ref()
        .is_some_and(|rp| !rp.config().same_origin_as_s3)
        && on_portal_host(gateway, req)
}

/// An S3 request sent to the portal's host: refused and audited, naming
/// where S3 is served.
pub fn s3_on_portal_host(
    gateway: &Gateway,
    mut ctx: RequestCtx,
    req: &Request<crate::request_body::RequestBody>,
) -> Response {
    let s3 = gateway
        .login
        .as_ref()
        .map_or("", |rp| rp.config().s3_endpoint());
    ctx.event.reason = "S3 request on the portal's host".into();
    let err = S3Error::new(
        S3ErrorCode::InvalidRequest,
        format!(
            "This host serves s3gate's sign-in pages only; send S3 requests to the S3 endpoint {s3}."
        ),
    )
    .with_resource(truncate(req.uri().path()));
    finish::s3_error(ctx, err, req.method(), "")
}

/// A path as `<Resource>`, cut to a sane length.
fn truncate(path: &str) -> String {
    path.chars().take(256).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test panics on a broken fixture")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::origin::host_authority;

    proptest! {
        /// The allocation-free comparison says what comparing the two
        /// normalised `host:port` strings says.
        #[test]
        fn portal_host_is_what_comparing_authorities_says(
            url in prop::sample::select(vec![
                "https://login.example.com", "http://Login.Example.com:8080/",
                "https://[2001:DB8::1]/", "http://127.0.0.1:7070", "https://login.example.com.:443",
            ]),
            host in prop_oneof![
                "[a-zA-Z0-9.:\\[\\]@/ -]{0,24}",
                prop::sample::select(vec![
                    "login.example.com", "LOGIN.example.com:443", "login.example.com.",
                    "login.example.com:80", "login.example.com:8080", "[2001:db8::1]",
                    "[2001:DB8::1]:443", "127.0.0.1:7070", "127.0.0.1", "x@login.example.com",
                ]).prop_map(str::to_owned),
            ],
        ) {
            let portal = PortalHost::of(url).unwrap();
            let expected = url_authority(url).unwrap();
            let by_strings = host_authority(&host, portal.default_port).as_deref()
                == Some(expected.as_str());
            prop_assert_eq!(portal.is(&host), by_strings, "{} against {}", host, url);
        }
    }
}
