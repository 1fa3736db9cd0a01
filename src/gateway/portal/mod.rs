//! The sign-in routes under `/_s3gate/`: the portal page, the OIDC login
//! and callback, sign-out, the CLI's loopback login and the device flow.
//!
//! Every route that decides who someone is or hands out credentials writes
//! one audit line (`api: "login"`); the login redirect and the device code
//! request, which decide nothing, do not. Pages are HTML with a strict CSP
//! and `Cache-Control: no-store` (the portal shows secrets); the CLI's
//! endpoints answer JSON. Pure parts live in [`crate::login`].

mod browser;
mod cli;
mod device;
mod share;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::request_body::RequestBody;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use subtle::ConstantTimeEq as _;

use super::Gateway;
use super::body::GatewayBody;
use super::ctx::{Line, RequestCtx};
use super::record::Finish;
use crate::audit::rfc3339;
use crate::login::page::{self, GrantRow, PortalView, ShownCredentials};
use crate::login::rp::RelyingParty;
use crate::login::{
    self, BrowserSession, CliCode, DeviceCode, LOGIN_COOKIE, LoginState, SESSION_COOKIE,
};
use crate::policy::{Caller, Scope, principal_name};
use crate::session::web::Purpose;
use crate::session::{Identity, SessionCredentials};

/// Largest form a sign-in route reads.
const MAX_FORM: usize = 16 * 1024;
/// Shortest credentials worth handing out: past this the browser session
/// is nearly over and the person signs in again instead.
const MIN_CREDENTIALS: u64 = 60;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Routes one request under `/_s3gate/` that is not an operations page.
pub async fn handle(
    gateway: &Gateway,
    req: Request<RequestBody>,
    client: SocketAddr,
) -> Response<GatewayBody> {
    let nonce = login::random_token(16, &mut rand::rng());
    let Some(rp) = &gateway.login else {
        return html(
            StatusCode::NOT_FOUND,
            page::message(
                "Not found",
                "There is no such page. (Browser sign-in is not configured on this gateway.)",
                None,
                &nonce,
            ),
            &nonce,
            None,
        );
    };
    // Behind a trusted balancer the client is the one it forwards for:
    // every grant shown, address recorded and audit line is about them.
    let Some(source) = super::ctx::client_source(gateway, client, req.headers()) else {
        return unknown_client(gateway, &req, client, &nonce).await;
    };
    let now = SystemTime::now();
    let ctx = Ctx {
        gateway,
        rp,
        client,
        source,
        now,
        nonce,
    };
    let page = req.uri().path().trim_start_matches("/_s3gate/").to_owned();
    match (req.method().clone(), page.as_str()) {
        (Method::GET, "") => ctx.portal(&req).await,
        (Method::GET, "login") => ctx.login(&req).await,
        (Method::GET, "callback") => ctx.callback(&req).await,
        (Method::POST, "logout") => ctx.logout(),
        (Method::POST, "share") => ctx.share(req).await,
        (Method::GET, "cli") => ctx.cli_confirm(&req),
        (Method::POST, "cli") => ctx.cli_approve(req).await,
        (Method::POST, "cli/token") => ctx.cli_token(req).await,
        (Method::POST, "device/start") => ctx.device_start(&req),
        (Method::GET, "device") => ctx.device_page(&req),
        (Method::POST, "device") => ctx.device_approve(req).await,
        (Method::POST, "device/token") => ctx.device_token(req).await,
        (_, page) => match allowed_methods(page) {
            Some(allow) => {
                let mut resp = ctx.page(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                    "This page does not answer that method.",
                    None,
                );
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
                resp
            }
            None => ctx.page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such page.",
                None,
            ),
        },
    }
}

/// A request from a trusted proxy that forwarded no usable address: refused
/// (audited), as S3 requests are, since the policy cannot judge it.
async fn unknown_client(
    gateway: &Gateway,
    req: &Request<RequestBody>,
    client: SocketAddr,
    nonce: &str,
) -> Response<GatewayBody> {
    let status = StatusCode::FORBIDDEN;
    let record = RequestCtx::open(
        gateway,
        "login",
        Line::Request(req.method().clone(), req.uri().clone()),
        req.headers(),
        client,
        None,
        super::new_request_id(),
    )
    .await;
    let finish = record.map(|mut record| {
        record.deny("AccessDenied", crate::forwarded::UNKNOWN_CLIENT);
        record.finish(status)
    });
    html(
        status,
        page::message(
            "Refused",
            "s3gate cannot tell your address: a proxy in front of it forwarded one \
             that is not an address.",
            None,
            nonce,
        ),
        nonce,
        finish,
    )
}

/// The methods a portal page answers (kept beside the routes above), for
/// the `405` a reserved page gives any other method.
fn allowed_methods(page: &str) -> Option<&'static str> {
    match page {
        "" | "login" | "callback" => Some("GET"),
        "cli" | "device" => Some("GET, POST"),
        "logout" | "share" | "cli/token" | "device/start" | "device/token" => Some("POST"),
        _ => None,
    }
}

struct Ctx<'a> {
    gateway: &'a Gateway,
    rp: &'a RelyingParty,
    /// The TCP peer: a balancer's address behind one.
    client: SocketAddr,
    /// The client's address, as the policy judges it and pages show it
    /// ([`super::ctx::client_source`]).
    source: std::net::IpAddr,
    now: SystemTime,
    /// The CSP nonce of this response's page.
    nonce: String,
}

/// A route's audit line, its slot reserved before anything is decided.
type Record = RequestCtx;

impl Ctx<'_> {
    fn secure(&self) -> bool {
        self.rp.config().secure()
    }

    async fn record(
        &self,
        operation: &'static str,
        headers: &http::HeaderMap,
    ) -> Result<Record, Response<GatewayBody>> {
        let request_id = super::new_request_id();
        match RequestCtx::open(
            self.gateway,
            "login",
            Line::Operation(operation),
            headers,
            self.client,
            Some(self.source),
            request_id,
        )
        .await
        {
            Some(mut record) => {
                record.event.operation = Some(operation);
                Ok(record)
            }
            None => Err(self.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "s3gate cannot write its audit log, so it refuses sign-ins. Try again shortly.",
                None,
            )),
        }
    }

    fn page(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        record: Option<Record>,
    ) -> Response<GatewayBody> {
        let rid = record.as_ref().map(|r| r.event.request_id.clone());
        html(
            status,
            page::message(title, text, rid.as_deref(), &self.nonce),
            &self.nonce,
            record.map(|r| r.finish(status)),
        )
    }

    /// A signed-in person as the policy sees them, here and now.
    fn caller<'i>(&self, identity: &'i Identity) -> Caller<'i> {
        Caller {
            identity,
            name: None,
            chain: &[],
            client: Some(self.source),
            now: self.now,
        }
    }

    /// The signed-in browser, if its cookie opens and has not expired.
    fn browser(&self, req: &Request<RequestBody>) -> Option<BrowserSession> {
        let value = cookie(req, SESSION_COOKIE, self.secure())?;
        self.gateway
            .keyring
            .current()
            .open_web(Purpose::BrowserSession, value, self.now)
            .ok()
    }

    /// The start of every form that acts for the signed-in person (Allow,
    /// approve): the audit record, the browser session — only from a
    /// same-origin POST, a cross-site one is refused even with the cookie —
    /// and the form. A refusal is the page to answer, `hint` saying what
    /// to do.
    async fn acting_post(
        &self,
        req: Request<RequestBody>,
        operation: &'static str,
        hint: &str,
    ) -> Result<(Record, BrowserSession, Vec<(String, String)>), Response<GatewayBody>> {
        let mut record = self.record(operation, req.headers()).await?;
        let session = match same_origin(&req, self.rp.config().base_url()) {
            Err(why) => Err(format!("cross-site request refused: {why}")),
            Ok(()) => self
                .browser(&req)
                .ok_or_else(|| "no signed-in browser session".to_owned()),
        };
        match session {
            Ok(session) => Ok((record, session, read_form(req).await)),
            Err(why) => {
                record.deny("AccessDenied", why);
                Err(self.page(StatusCode::FORBIDDEN, "Not signed in", hint, Some(record)))
            }
        }
    }

    /// Sends the browser to sign in, then back to this page.
    fn to_login(&self, req: &Request<RequestBody>) -> Response<GatewayBody> {
        let here = req
            .uri()
            .path_and_query()
            .map_or("/_s3gate/", |p| p.as_str());
        let next = login::safe_next(Some(here));
        let location = format!(
            "/_s3gate/login?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        redirect(&location, &[])
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'r>(req: &'r Request<RequestBody>, base: &str, secure: bool) -> Option<&'r str> {
    login::cookie_value(
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        base,
        secure,
    )
}

/// A query parameter, decoded.
fn query(req: &Request<RequestBody>, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A bounded urlencoded form; an unreadable or oversized one is empty.
async fn read_form(req: Request<RequestBody>) -> Vec<(String, String)> {
    match Limited::new(req.into_body(), MAX_FORM).collect().await {
        Ok(body) => form_urlencoded::parse(&body.to_bytes())
            .into_owned()
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn form_value(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Whether a browser's POST comes from s3gate's own pages. Browsers send
/// `Origin` on every POST; the `SameSite=Lax` cookie is the other half of
/// the defence. Names what was wrong.
fn same_origin(req: &Request<RequestBody>, base: &str) -> Result<(), String> {
    let headers = req.headers();
    let value = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    if let Some(origin) = value(header::ORIGIN)
        && origin != base
    {
        return Err(format!("Origin `{origin}` is not `{base}`"));
    }
    if let Some(site) = value(http::HeaderName::from_static("sec-fetch-site"))
        && site != "same-origin"
        && site != "none"
    {
        return Err(format!("Sec-Fetch-Site is `{site}`"));
    }
    Ok(())
}

/// An HTML page with the headers every page carries.
fn html(
    status: StatusCode,
    body: String,
    nonce: &str,
    finish: Option<Finish>,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(body, finish));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&page::csp(nonce)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    no_store(h);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The headers every sign-in answer carries: nothing cached (pages and
/// answers carry credentials), nothing sniffed, no referrer to other
/// sites. (`same-origin`, not `no-referrer`: under the latter browsers send
/// `Origin: null` on the page's own form posts, which the CSRF check must
/// refuse.)
fn no_store(h: &mut http::HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// `303 See Other` to `location`, setting `cookies`.
fn redirect(location: &str, cookies: &[String]) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(bytes::Bytes::new(), None));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    no_store(h);
    resp
}

fn json(
    status: StatusCode,
    value: &serde_json::Value,
    finish: Option<Finish>,
) -> Response<GatewayBody> {
    let mut resp = Response::new(GatewayBody::full(value.to_string(), finish));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    no_store(h);
    resp
}

/// A sign-in step that needs the shared state, which cannot be reached:
/// 503 `temporarily_unavailable` (RFC 6749), audited; the cause is logged.
fn shared_unavailable(
    mut record: Record,
    what: &str,
    error: &crate::shared::SharedError,
) -> Response<GatewayBody> {
    tracing::warn!(error = %error, "{what} unavailable");
    let why = format!("{what} is unavailable: s3gate cannot reach its shared state");
    record.deny("ServiceUnavailable", why.clone());
    oauth_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        &why,
        record,
    )
}

/// An OAuth-style JSON error (`error`, `error_description`), audited.
fn oauth_error(
    status: StatusCode,
    error: &str,
    description: &str,
    record: Record,
) -> Response<GatewayBody> {
    json(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
        Some(record.finish(status)),
    )
}
